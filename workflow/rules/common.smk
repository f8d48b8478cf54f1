# Configuration (merged, validated), the sweep -> job table, and the helpers the rules use.
import os
import re
import subprocess
import sys

from snakemake.exceptions import WorkflowError

# This checkout's package, for this process and for every job it starts, whichever Python
# environment runs Snakemake: a virtual environment shared by several checkouts would
# otherwise run another checkout's code.
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))

try:
    from implicit_bias.config import ConfigError, load_schema, load_yaml, validate_config
    from implicit_bias.experiments import figures, registry, sweep_cells
    from implicit_bias.fingerprint import kind_fingerprint
    from implicit_bias.preflight import preflight
except ImportError as exc:
    raise WorkflowError(
        f"the package implicit_bias cannot be imported ({exc}); install its dependencies first: "
        "`make` in the repository root does (see the README)"
    )

REGISTRY = registry()
try:
    for path in workflow.configfiles:
        load_yaml(path)  # refuses duplicate keys, which Snakemake's own reading merges silently
    CONFIG = validate_config(dict(config), load_schema(ROOT / "workflow/schemas/config.schema.yaml"), REGISTRY, ROOT)
    preflight(CONFIG, REGISTRY, root=ROOT, local=workflow.local_exec)
except ConfigError as exc:
    raise WorkflowError(str(exc))

SWEEPS = CONFIG["resolved"]
CELLS = {name: sweep_cells(settings, REGISTRY.kind(settings["kind"])) for name, settings in SWEEPS.items()}
FIGURES = figures(CONFIG)
KINDS = sorted({settings["kind"] for settings in SWEEPS.values()})
CODE = {kind: kind_fingerprint(REGISTRY.kind(kind)) for kind in KINDS}


def shared_runs():
    """(sweep, cell) -> the (sweep, cell) that computes it, for every cell whose computation
    another sweep's cell already makes (its kind says which are one, Kind.share)."""
    first, shared = {}, {}
    for sweep, settings in SWEEPS.items():
        kind = REGISTRY.kind(settings["kind"])
        if kind.share is None:
            continue
        for cell, params in CELLS[sweep].items():
            key = (REGISTRY.kind_module[settings["kind"]], kind.share(settings, params))
            if key in first:
                shared[(sweep, cell)] = first[key]
            else:
                first[key] = (sweep, cell)
    return shared


SHARED = shared_runs()


wildcard_constraints:
    sweep="[A-Za-z0-9_]+",
    cell="[^/]+",
    figure="[A-Za-z0-9_.-]+",


def one_of(names):
    """A wildcard regex matching exactly these names (nothing if there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def cell_files(sweep):
    """The files each job of this sweep leaves beside its tables (its kind decides)."""
    return REGISTRY.kind(SWEEPS[sweep]["kind"]).files(SWEEPS[sweep])


def own_cells(sweep):
    return [c for c in CELLS[sweep] if (sweep, c) not in SHARED]


def shared_from(wildcards):
    """The files of the run a shared cell takes its tables and images from."""
    sweep, cell = SHARED[(wildcards.sweep, wildcards.cell)]
    names = ["summary.csv", "curves.csv", *cell_files(sweep)]
    return [f"results/{sweep}/cells/{cell}/{name}" for name in names]


def cell_outputs(sweep, table):
    return [f"results/{sweep}/cells/{cell}/{table}.csv" for cell in CELLS[sweep]]


def job_params(wildcards):
    """What a compute job needs: its family, sweep, settings, cell parameters and numerics."""
    settings = SWEEPS[wildcards.sweep]
    return {
        "module": REGISTRY.kind_module[settings["kind"]],
        "sweep": wildcards.sweep,
        "settings": settings,
        "cell": CELLS[wildcards.sweep][wildcards.cell],
        "seed": CONFIG["seed"],
        "device": CONFIG["device"],
        "dtype": CONFIG["dtype"],
    }


def job_resources(wildcards):
    """What one job of this sweep asks the scheduler for (its kind decides)."""
    settings = SWEEPS[wildcards.sweep]
    return REGISTRY.kind(settings["kind"]).resources(settings)


def figure_tables(wildcards):
    sweeps = FIGURES[wildcards.figure]["sweeps"]
    return {
        "summary": [f"results/{s}/summary.csv" for s in sweeps],
        "curves": [f"results/{s}/curves.csv" for s in sweeps],
        # Files a kind's jobs leave beside their tables (e.g. images), for figures that show them.
        "files": [f"results/{s}/cells/{cell}/{name}" for s in sweeps for cell in CELLS[s] for name in cell_files(s)],
    }


def figure_params(wildcards):
    spec = FIGURES[wildcards.figure]
    return {
        "module": REGISTRY.plot_module[spec["plot"]],
        "plot": spec["plot"],
        "sweeps": spec["sweeps"],
        "settings": {s: SWEEPS[s] for s in spec["sweeps"]},
    }


def figure_caption(wildcards):
    spec = FIGURES[wildcards.figure]
    return REGISTRY.plot(spec["plot"]).caption({s: SWEEPS[s] for s in spec["sweeps"]})


def figure_stamp(wildcards):
    """A line under a figure not at the papers' settings, naming what differs."""
    from implicit_bias.config import size_stamp

    return size_stamp(CONFIG, FIGURES[wildcards.figure]["sweeps"])


def source_commit():
    """The checkout's commit, for the scorecard's header ("" outside git)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def all_outputs():
    out = [f"results/{s}/summary.csv" for s in SWEEPS] + ["results/scorecard.csv", "results/scorecard.md"]
    out += [f"figures/{f}.{ext}" for f in FIGURES for ext in ("pdf", "png")]
    return out
