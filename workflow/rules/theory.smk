# Checks of the theory: Theorem 1 with commuting measurements, the weighted minimum norm of
# discrepant learning rates, and the alpha-lambda correspondence in robust PCA.


rule theory_cell:
    output:
        summary="results/{sweep}/cells/{cell}/summary.csv",
        curves="results/{sweep}/cells/{cell}/curves.csv",
    log:
        "logs/{sweep}/{cell}.log",
    wildcard_constraints:
        sweep=sweeps_of("theory_theorem1", "theory_weighted_min_norm", "theory_alpha_lambda"),
    params:
        job=job_params,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
