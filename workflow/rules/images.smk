# Robust image recovery: DIP, DIP-l1 and DOP (Figs. 1b, 3, 4, 5). One job per run
# (image, p, method, width); a killed job resumes from its checkpoint.pt when run again.
from implicit_bias.tasks.images import CELL_FILES, IMAGE_KINDS, job_resources


def image_job(wildcards):
    """job_params plus the image folder, resolved against the repository root."""
    job = job_params(wildcards)
    image_dir = Path(CONFIG["image_dir"])
    job["settings"] = dict(job["settings"], image_dir=str(image_dir if image_dir.is_absolute() else ROOT / image_dir))
    return job


def image_resource(name):
    return lambda wildcards: job_resources(SWEEPS[wildcards.sweep])[name]


rule image_cell:
    output:
        summary="results/{sweep}/cells/{cell}/summary.csv",
        curves="results/{sweep}/cells/{cell}/curves.csv",
        files=[f"results/{{sweep}}/cells/{{cell}}/{name}" for name in CELL_FILES],
    log:
        "logs/{sweep}/{cell}.log",
    wildcard_constraints:
        sweep=sweeps_of(*IMAGE_KINDS),
    params:
        job=image_job,
    threads: 1
    resources:
        gpu=image_resource("gpu"),
        mem_mb=image_resource("mem_mb"),
        runtime=image_resource("runtime"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
