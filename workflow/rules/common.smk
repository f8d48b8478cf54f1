# Configuration (merged, validated), the sweep -> job table, and the helpers the rules use.
import re
import sys

from snakemake.exceptions import WorkflowError

# The package is importable from the checkout, installed or not (cluster jobs, conda envs).
sys.path.insert(0, str(ROOT / "src"))
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


def source_commit():
    """The checkout's commit, for the scorecard's header ("" outside git)."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def all_outputs():
    out = [f"results/{s}/summary.csv" for s in SWEEPS] + ["results/scorecard.csv", "results/scorecard.md"]
    out += [f"figures/{f}.{ext}" for f in FIGURES for ext in ("pdf", "png")]
    return out
