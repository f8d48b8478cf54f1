# Matrix sensing: initialization rank and norm (Figs. 1-3) and restarted descent (Fig. 5).


rule sensing_cell:
    output:
        summary="results/{sweep}/cells/{cell}/summary.csv",
        curves="results/{sweep}/cells/{cell}/curves.csv",
    log:
        "logs/{sweep}/{cell}.log",
    wildcard_constraints:
        sweep=sweeps_of("sensing_init", "sensing_restart"),
    params:
        job=job_params,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
