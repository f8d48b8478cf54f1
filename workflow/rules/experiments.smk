# The compute jobs: one per cell of a sweep, for every sweep whatever its kind. The kind
# decides what a job runs, the files it leaves besides its tables, and what it asks the
# scheduler for; a job depends on the fingerprint of the code it runs (params.code), so a
# change to that code reruns it. A cell whose run another sweep's cell makes (the same
# image run in the gallery and the corruption sweep, say) is not run again: it takes that
# run's tables and images.


for sweep in SWEEPS:

    rule:
        name:
            f"run_{sweep}"
        output:
            summary="results/{sweep}/cells/{cell}/summary.csv",
            curves="results/{sweep}/cells/{cell}/curves.csv",
            files=[f"results/{{sweep}}/cells/{{cell}}/{name}" for name in cell_files(sweep)],
        log:
            "logs/{sweep}/{cell}.log",
        benchmark:
            "logs/{sweep}/{cell}.benchmark.tsv"
        wildcard_constraints:
            sweep=re.escape(sweep),
            cell=one_of(own_cells(sweep)),
        conda:
            "../../environment.yml"
        threads: lambda w: job_resources(w)["threads"]
        resources:
            gpu=lambda w: job_resources(w)["gpu"],
            mem_mb=lambda w: job_resources(w)["mem_mb"],
            runtime=lambda w: job_resources(w)["runtime"],
        params:
            job=job_params,
            code=CODE[SWEEPS[sweep]["kind"]],
        script:
            "../scripts/run_cell.py"

    if len(own_cells(sweep)) < len(CELLS[sweep]):

        rule:
            name:
                f"share_{sweep}"
            input:
                shared_from,
            output:
                summary="results/{sweep}/cells/{cell}/summary.csv",
                curves="results/{sweep}/cells/{cell}/curves.csv",
                files=[f"results/{{sweep}}/cells/{{cell}}/{name}" for name in cell_files(sweep)],
            log:
                "logs/{sweep}/{cell}.log",
            wildcard_constraints:
                sweep=re.escape(sweep),
                cell=one_of([c for c in CELLS[sweep] if c not in own_cells(sweep)]),
            localrule: True
            conda:
                "../../environment.yml"
            script:
                "../scripts/share_cell.py"
