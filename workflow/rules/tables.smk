# A sweep's jobs stacked into its tables.


rule aggregate:
    input:
        summary=lambda w: job_outputs(w.sweep, "summary"),
        curves=lambda w: job_outputs(w.sweep, "curves"),
    output:
        summary="results/{sweep}/summary.csv",
        curves="results/{sweep}/curves.csv",
    log:
        "logs/{sweep}/aggregate.log",
    benchmark:
        "logs/{sweep}/aggregate.benchmark.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"
