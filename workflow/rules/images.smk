# Robust image recovery: DIP, DIP-l1 and DOP (Figs. 1b, 3, 4, 5). One job per run
# (image, p, method, width); a killed job resumes from its checkpoint.pt when run again.
from implicit_bias.tasks.images import CELL_FILES, IMAGE_KINDS, job_resources, with_image_dir


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
        job=lambda w: with_image_dir(job_params(w), CONFIG["image_dir"], ROOT),
    threads: 1
    resources:
        gpu=lambda w: job_resources(SWEEPS[w.sweep])["gpu"],
        mem_mb=lambda w: job_resources(SWEEPS[w.sweep])["mem_mb"],
        runtime=lambda w: job_resources(SWEEPS[w.sweep])["runtime"],
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
