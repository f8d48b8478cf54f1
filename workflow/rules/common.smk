# Configuration (merged, validated), the sweep -> job table, and the rules every
# experiment family shares: aggregation of a sweep's jobs, and figures.
import json
import re

from snakemake.exceptions import WorkflowError

try:
    from implicit_bias.config import ConfigError, load_yaml, validate_config
    from implicit_bias.tasks import KINDS, caption, figures, sweep_cells
except ImportError as exc:
    raise WorkflowError(
        f"the package implicit_bias is not importable ({exc}); install it first: "
        "`pip install -e .` in the repository root (the README's `make` does this)"
    )

try:
    CONFIG = validate_config(dict(config), load_yaml(ROOT / "workflow/schemas/config.schema.yaml"))
except ConfigError as exc:
    raise WorkflowError(str(exc))

SWEEPS = CONFIG["resolved"]
CELLS = {name: sweep_cells(settings) for name, settings in SWEEPS.items()}
FIGURES = figures(CONFIG)


wildcard_constraints:
    sweep="[A-Za-z0-9_]+",
    cell="[^/]+",
    figure="[A-Za-z0-9_.-]+",


def sweeps_of(*kinds):
    """A wildcard regex matching the sweeps of these kinds (matches nothing if none)."""
    names = [n for n, s in SWEEPS.items() if s["kind"] in kinds]
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def cell_outputs(sweep, table):
    return [f"results/{sweep}/cells/{cell}/{table}.csv" for cell in CELLS[sweep]]


def job_params(wildcards):
    """What a compute job needs: its sweep's settings, its cell's parameters, numerics."""
    return {
        "sweep": wildcards.sweep,
        "settings": SWEEPS[wildcards.sweep],
        "cell": CELLS[wildcards.sweep][wildcards.cell],
        "seed": CONFIG["seed"],
        "device": CONFIG["device"],
        "dtype": CONFIG["dtype"],
    }


def figure_tables(wildcards):
    sweeps = FIGURES[wildcards.figure]["sweeps"]
    return {
        "summary": [f"results/{s}/summary.csv" for s in sweeps],
        "curves": [f"results/{s}/curves.csv" for s in sweeps],
        # Files a kind's jobs leave beside their tables (e.g. images), for figures that show them.
        "files": [
            f"results/{s}/cells/{cell}/{name}"
            for s in sweeps
            for cell in CELLS[s]
            for name in KINDS[SWEEPS[s]["kind"]].files
        ],
    }


def figure_params(wildcards):
    spec = FIGURES[wildcards.figure]
    return {"plot": spec["plot"], "sweeps": spec["sweeps"],
            "settings": {s: SWEEPS[s] for s in spec["sweeps"]}}


def figure_caption(wildcards):
    spec = FIGURES[wildcards.figure]
    return caption(spec["plot"], {s: SWEEPS[s] for s in spec["sweeps"]})


def all_outputs():
    out = [f"results/{s}/summary.csv" for s in SWEEPS]
    out += [f"figures/{f}.{ext}" for f in FIGURES for ext in ("pdf", "png")]
    return out


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
    script:
        "../scripts/plot_figure.py"
