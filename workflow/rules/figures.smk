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
    localrule: True
    conda:
        "../../environment.yml"
    params:
        spec=figure_params,
        caption=figure_caption,
        stamp=figure_stamp,
    script:
        "../scripts/plot_figure.py"
