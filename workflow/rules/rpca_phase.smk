# Robust PCA: rank / corruption phase transitions of APG and DOP (Figs. 2b, 2c).


rule rpca_phase_cell:
    output:
        summary="results/{sweep}/cells/{cell}/summary.csv",
        curves="results/{sweep}/cells/{cell}/curves.csv",
    log:
        "logs/{sweep}/{cell}.log",
    wildcard_constraints:
        sweep=sweeps_of("rpca_phase"),
    params:
        job=job_params,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_cell.py"
