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
    from implicit_bias import local_rules
    from implicit_bias.config import ConfigError, load_schema, load_yaml, validate_config
    from implicit_bias.experiments import figures, registry, sweep_jobs
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
    SCHEMA = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    CONFIG = validate_config(dict(config), SCHEMA, REGISTRY, ROOT)
    preflight(CONFIG, REGISTRY, root=ROOT, local=workflow.local_exec)
except ConfigError as exc:
    raise WorkflowError(str(exc))

SWEEPS = CONFIG["resolved"]
JOBS = {name: sweep_jobs(settings, REGISTRY.kind(settings["kind"])) for name, settings in SWEEPS.items()}
FIGURES = figures(CONFIG)
KINDS = sorted({settings["kind"] for settings in SWEEPS.values()})
CODE = {kind: kind_fingerprint(REGISTRY.kind(kind)) for kind in KINDS}


def shared_runs():
    """(sweep, job) -> the (sweep, job) that computes it, for every job whose computation
    another sweep's job already makes (its kind says which are one, Kind.share)."""
    first, shared = {}, {}
    for sweep, settings in SWEEPS.items():
        kind = REGISTRY.kind(settings["kind"])
        if kind.share is None:
            continue
        for job, params in JOBS[sweep].items():
            key = (REGISTRY.kind_module[settings["kind"]], kind.share(settings, params))
            if key in first:
                shared[(sweep, job)] = first[key]
            else:
                first[key] = (sweep, job)
    return shared


SHARED = shared_runs()


wildcard_constraints:
    sweep="[A-Za-z0-9_]+",
    job="[^/]+",
    figure="[A-Za-z0-9_.-]+",


def one_of(names):
    """A wildcard regex matching exactly these names (nothing if there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def job_files(sweep):
    """The files each job of this sweep leaves beside its tables (its kind decides)."""
    return REGISTRY.kind(SWEEPS[sweep]["kind"]).files(SWEEPS[sweep])


def own_jobs(sweep):
    return [c for c in JOBS[sweep] if (sweep, c) not in SHARED]


def sweep_priority(sweep):
    """The scheduling priority of a sweep's compute jobs: a sweep of one job goes first. Its
    job cannot be shared among the cores, so started late it would run alone at the end
    while the other cores idle (the longest-job-first rule, with one job standing for long).
    A packed sweep (pack_jobs) is one job too."""
    return 1 if packed(sweep) or len(own_jobs(sweep)) == 1 else 0


def shared_from(wildcards):
    """The files of the run a shared job takes its tables and images from."""
    sweep, job = SHARED[(wildcards.sweep, wildcards.job)]
    names = ["summary.csv", "curves.csv", *job_files(sweep)]
    return [f"results/{sweep}/jobs/{job}/{name}" for name in names]


# One process runs all of a sweep's own jobs where pack_jobs says so (null: at the smoke size).
PACK = CONFIG["size"] == "smoke" if CONFIG["pack_jobs"] is None else CONFIG["pack_jobs"]


def packed(sweep):
    """Whether this sweep's own jobs run together, as one Snakemake job (pack_jobs)."""
    return PACK and len(own_jobs(sweep)) > 1


def packed_outputs(sweep):
    """The files of every own job of a packed sweep, which its one job makes."""
    names = ["summary.csv", "curves.csv", *job_files(sweep)]
    return [f"results/{sweep}/jobs/{job}/{name}" for job in own_jobs(sweep) for name in names]


def packed_params(sweep):
    """What a packed sweep's job needs: sweep_params plus every own job's parameters and
    threads, by job name (each runs as it would alone)."""
    params = sweep_params(sweep)
    params["jobs"] = {
        job: {"job": JOBS[sweep][job], "threads": resources_of(sweep, job)["threads"]} for job in own_jobs(sweep)
    }
    return params


def packed_resources(sweep):
    """A packed sweep's job asks for the most threads, GPUs and memory of its jobs and for
    their summed run time."""
    each = [resources_of(sweep, job) for job in own_jobs(sweep)]
    out = {key: max(r[key] for r in each) for key in ("threads", "gpu", "mem_mb")}
    out["runtime"] = sum(r["runtime"] for r in each)
    return out


def job_outputs(sweep, table):
    return [f"results/{sweep}/jobs/{job}/{table}.csv" for job in JOBS[sweep]]


def sweep_params(sweep):
    """What every compute job of a sweep needs: its family, sweep, settings and numerics."""
    settings = SWEEPS[sweep]
    return {
        "module": REGISTRY.kind_module[settings["kind"]],
        "sweep": sweep,
        "settings": settings,
        "seed": CONFIG["seed"],
        "device": CONFIG["device"],
        "dtype": CONFIG["dtype"],
    }


def job_params(wildcards):
    """What a compute job needs: sweep_params and the job's parameters, keys in the order
    they have always had (Snakemake compares the repr of a job's parameters with the one it
    recorded, so another order would rerun finished jobs)."""
    params = sweep_params(wildcards.sweep)
    job = {"job": JOBS[wildcards.sweep][wildcards.job]}
    return (
        {k: params[k] for k in ("module", "sweep", "settings")}
        | job
        | {k: params[k] for k in ("seed", "device", "dtype")}
    )


def resources_of(sweep, job):
    """What one job asks the scheduler for: its kind decides from the sweep's settings and
    the job's parameters (a job of a one-thread solver asks for one thread, say)."""
    settings = SWEEPS[sweep]
    return REGISTRY.kind(settings["kind"]).resources(settings, JOBS[sweep][job])


def job_resources(wildcards):
    return resources_of(wildcards.sweep, wildcards.job)


def figure_tables(wildcards):
    sweeps = FIGURES[wildcards.figure]["sweeps"]
    return {
        "summary": [f"results/{s}/summary.csv" for s in sweeps],
        "curves": [f"results/{s}/curves.csv" for s in sweeps],
        # Files a kind's jobs leave beside their tables (e.g. images), for figures that show them.
        "files": [f"results/{s}/jobs/{job}/{name}" for s in sweeps for job in JOBS[s] for name in job_files(s)],
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

    return size_stamp(CONFIG, FIGURES[wildcards.figure]["sweeps"], SCHEMA)


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
