# Robust PCA: the learning-rate-ratio sweep (Fig. 2a) and the learning curves (Fig. 1a).


rule rpca_cell:
    output:
        summary="results/{sweep}/cells/{cell}/summary.csv",
        curves="results/{sweep}/cells/{cell}/curves.csv",
    log:
        "logs/{sweep}/{cell}.log",
    wildcard_constraints:
        sweep=sweeps_of("rpca_alpha", "rpca_curves"),
    params:
        job=job_params,
    # A paper-size job: about 35 s and 350 MB on one (busy) CPU core. On a cluster these
    # become the job's --cpus-per-task, --mem and -t (minutes).
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
