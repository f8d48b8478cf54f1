# The replication scorecard: every claim of the papers judged from the result tables alone.


rule scorecard:
    input:
        summary=[f"results/{s}/summary.csv" for s in SWEEPS],
        curves=[f"results/{s}/curves.csv" for s in SWEEPS],
    output:
        csv=report("results/scorecard.csv", caption="../report/scorecard.rst", category="Scorecard"),
        md="results/scorecard.md",
    log:
        "logs/scorecard.log",
    benchmark:
        "logs/scorecard.benchmark.tsv"
    localrule: True
    params:
        size=CONFIG["size"],
        sweeps=SWEEPS,
        figures=FIGURES,
        code={s: CODE[settings["kind"]] for s, settings in SWEEPS.items()},
        commit=source_commit(),
    run:
        local_rules.judge(summaries=input.summary, curves=input.curves, outputs=output, settings=params, log=log[0])
