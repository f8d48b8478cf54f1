# Rules every experiment family shares: a sweep's jobs stacked into its tables, and figures
# drawn from those tables alone (restyling a figure never reruns an experiment).


rule aggregate:
    input:
        summary=lambda w: cell_outputs(w.sweep, "summary"),
        curves=lambda w: cell_outputs(w.sweep, "curves"),
    output:
        summary="results/{sweep}/summary.csv",
        curves="results/{sweep}/curves.csv",
    log:
        "logs/{sweep}/aggregate.log",
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"


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
    params:
        spec=figure_params,
        caption=figure_caption,
    log:
        "logs/figures/{figure}.log",
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot_figure.py"
