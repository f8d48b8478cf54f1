# A sweep's jobs stacked into its tables. This rule, the figures, the scorecard and the shared runs
# are local rules run inside the Snakemake process (implicit_bias.local_rules), not one Python
# process each.


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
    run:
        local_rules.aggregate(summaries=input.summary, curves=input.curves, outputs=output, log=log[0])
