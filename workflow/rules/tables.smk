# A sweep's jobs stacked into its tables. This rule, the figures, the scorecard and the shared runs
# are local rules run inside the Snakemake process (implicit_bias.local_rules), not one Python
# process each. They go first among the jobs that are ready (priority 2): drawn while the
# compute jobs still run, they keep the second core busy instead of all waiting for the end.


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
    priority: 2
    localrule: True
    run:
        local_rules.aggregate(summaries=input.summary, curves=input.curves, outputs=output, log=log[0])
