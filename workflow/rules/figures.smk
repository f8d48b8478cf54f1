# Figures, drawn from the tables alone: restyling a figure never reruns an experiment.


rule figure:
    input:
        unpack(figure_tables),
    output:
        pdf=report(
            "figures/{figure}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "pdf"},
        ),
        png=report(
            "figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "png"},
        ),
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "logs/figures/{figure}.benchmark.tsv"
    priority: 2
    localrule: True
    params:
        spec=figure_params,
        caption=figure_caption,
        stamp=figure_stamp,
    run:
        local_rules.figure(
            spec=params.spec,
            summaries=input.summary,
            curves=input.curves,
            outputs=[output.pdf, output.png],
            stamp=params.stamp,
            log=log[0],
        )
