# The compute jobs: one per cell of a sweep, for every kind of experiment. The kind decides
# what a job runs, the files it leaves besides its tables, and what it asks the scheduler
# for; a job depends on the fingerprint of the code it runs (params.code), so a change to
# that code reruns it.


for kind in KINDS:

    rule:
        name:
            f"run_{kind}"
        output:
            summary="results/{sweep}/cells/{cell}/summary.csv",
            curves="results/{sweep}/cells/{cell}/curves.csv",
            files=[f"results/{{sweep}}/cells/{{cell}}/{name}" for name in REGISTRY.kind(kind).files],
        log:
            "logs/{sweep}/{cell}.log",
        wildcard_constraints:
            sweep=sweeps_of(kind),
        conda:
            "../../environment.yml"
        threads: lambda w: job_resources(w)["threads"]
        resources:
            gpu=lambda w: job_resources(w)["gpu"],
            mem_mb=lambda w: job_resources(w)["mem_mb"],
            runtime=lambda w: job_resources(w)["runtime"],
        params:
            job=job_params,
            code=CODE[kind],
        script:
            "../scripts/run_cell.py"
