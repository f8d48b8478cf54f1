"""Experiment families: how a sweep of each kind splits into jobs, what a job runs and asks
the scheduler for, which settings of the kind contradict each other, the figures drawn from
its tables and the claims judged on them.

Each module of this package is one family. It declares, as a module-level ``FAMILY``
(:class:`Family`), its kinds (the config's ``kind:``), its plots and its scorecard claims.
:func:`registry` finds the modules and reads their declarations; a job imports only the
module of its own kind (:func:`load_family`), so it imports only what that family needs.
What several families declare alike (:func:`one_job_per`, :func:`fixed_resources`,
:func:`ranks_at_most_n`) is here.

The families import torch and their engines inside the functions that run jobs, not at the
top of the module: drawing a figure or judging a claim (in the Snakemake process, see
:mod:`implicit_bias.local_rules`) then never pays for them.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..config import suggest
from ..records import write_table
from ..scorecard import Claim
from ..seeding import trial_seed

if TYPE_CHECKING:
    import torch


@dataclass
class Context:
    """What a job knows besides its own parameters.

    :ivar sweep: the sweep's name.
    :ivar settings: the sweep's resolved settings.
    :ivar seed: the configuration's base seed.
    :ivar device: torch device.
    :ivar dtype: torch dtype of the matrix experiments.
    :ivar outdir: the job's folder, for extra files (checkpoints, images).
    :ivar threads: CPU threads the job may use.
    :ivar progress: show progress bars (on stderr, i.e. the job's log).
    """

    sweep: str
    settings: dict
    seed: int
    device: torch.device
    dtype: torch.dtype
    outdir: Path
    threads: int = 1
    progress: bool = True

    def trial_seed(self, problem_key: str, trial: int) -> int:
        return trial_seed(self.seed, self.sweep, problem_key, trial)

    def label(self, text: str) -> str | None:
        return f"{self.sweep} {text}" if self.progress else None


@dataclass(frozen=True)
class Kind:
    """A kind of sweep.

    :ivar jobs: settings to the list of job parameter dicts (one job each); a top-level
        function of the family, or one made by :func:`one_job_per`.
    :ivar run: ``(ctx, job) -> (summary, curves)``; curves may be None.
    :ivar plots: the plots drawn for a sweep that no figure names: the first as figure
        ``<sweep>``, any others as ``<sweep>_<plot>``.
    :ivar resources: ``(settings, job) -> `` what that job asks the scheduler for:
        ``threads``, ``mem_mb``, ``runtime`` (minutes) and ``gpu``.
    :ivar files: settings to the files each job writes into its folder besides the
        tables (images, say); they are outputs of the job, and figures of the kind's sweeps
        get them as inputs at ``results/<sweep>/jobs/<job>/<file>``.
    :ivar preflight: settings to a list of ``(key, problem)`` found before any job runs,
        about what the jobs will read (images, say); None: nothing to check.
    :ivar share: ``(settings, job) -> key``: jobs of different sweeps with one key are one
        computation, run once (None: every job is its own).
    :ivar checks: settings to a list of ``(key, problem)``: constraints between the kind's
        keys that its schema cannot state (a rank above the matrix size, say), found by the
        configuration's validation before any job runs, on settings the schema accepts;
        None: nothing to check.
    :ivar folders: top-level configuration keys naming folders the kind's jobs read; each
        sweep of the kind gets them in its settings, as absolute paths (a relative one is
        taken from the repository root).
    """

    jobs: Callable[[dict], list[dict]]
    run: Callable[[Context, dict], tuple[pd.DataFrame, pd.DataFrame | None]]
    plots: tuple[str, ...]
    resources: Callable[[dict, dict], dict]
    files: Callable[[dict], tuple[str, ...]] = lambda settings: ()
    preflight: Callable[[dict], list[tuple[str, str]]] | None = None
    share: Callable[[dict, dict], str] | None = None
    checks: Callable[[dict], list[tuple[str, str]]] | None = None
    folders: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# What several families' kinds declare alike
# ---------------------------------------------------------------------------------------


def one_job_per(**params: str) -> Callable[[dict], list[dict]]:
    """A :attr:`Kind.jobs` that makes one job per value of each setting named.

    ``one_job_per(method="methods")`` makes a job per entry of the list ``methods``, with
    the parameter ``method``; a setting that is a count (``trials``) makes a job per index
    from 0. Several settings make a job per combination, the first named varying slowest:
    ``one_job_per(image="images", trial="trials")``.

    :param params: each job parameter's name, in the order of the job's name, to the setting
        whose values it takes.
    :returns: the jobs function.
    """

    def jobs(settings: dict) -> list[dict]:
        values = [range(v) if isinstance(v, int) else v for v in (settings[key] for key in params.values())]
        return [dict(zip(params, combination, strict=True)) for combination in itertools.product(*values)]

    return jobs


def fixed_resources(threads: int = 1, mem_mb: int = 1000, runtime: int = 60, gpu: int = 0):
    """A :attr:`Kind.resources` that asks the same of every job of every sweep.

    :param threads: CPU threads (cores) a job keeps busy.
    :param mem_mb: its memory, in MB.
    :param runtime: its wall time, in minutes.
    :param gpu: GPUs it takes.
    :returns: the resources function.
    """

    def resources(settings: dict, job: dict) -> dict:
        return {"threads": threads, "mem_mb": mem_mb, "runtime": runtime, "gpu": gpu}

    return resources


def ranks_at_most_n(*keys: str) -> Callable[[dict], list[tuple[str, str]]]:
    """A :attr:`Kind.checks` for the matrix kinds: every rank the settings ``keys`` give (a
    number or a list of them) is at most the matrix size ``n``.

    :param keys: the settings that hold ranks.
    :returns: the check: settings to ``(key, problem)`` for each rank above ``n``.
    """

    def check(settings: dict) -> list[tuple[str, str]]:
        n, out = settings["n"], []
        for key in keys:
            values = settings.get(key)
            for rank in values if isinstance(values, list) else [values]:
                if isinstance(rank, int) and rank > n:
                    out.append((key, f"rank {rank} is above n = {n} (allowed: 1 <= rank <= n)"))
        return out

    return check


@dataclass(frozen=True)
class Plot:
    """A figure-drawing function and its caption.

    :ivar draw: ``tables -> matplotlib Figure``; ``tables`` maps each sweep to a dict with
        ``settings``, ``summary``, ``curves`` and ``jobs_dir`` (the sweep's job folders).
    :ivar caption: ``settings -> str`` stating the settings, for the report; ``settings``
        maps each sweep to its resolved settings.
    :ivar kinds: the kinds of sweep whose tables it can draw.
    """

    draw: Callable
    caption: Callable
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    """What one module of this package declares.

    :ivar kinds: kind name to :class:`Kind`.
    :ivar plots: plot name to :class:`Plot`.
    :ivar claims: kind name to the claims judged on every sweep of that kind.
    """

    kinds: dict[str, Kind]
    plots: dict[str, Plot] = field(default_factory=dict)
    claims: dict[str, list[Claim]] = field(default_factory=dict)


def load_family(module: str) -> Family:
    """The :class:`Family` declared by ``implicit_bias.experiments.<module>``."""
    return importlib.import_module(f"{__name__}.{module}").FAMILY


@dataclass(frozen=True)
class Registry:
    """Every family's declarations, and which module declares each kind and plot."""

    families: dict[str, Family]
    kind_module: dict[str, str]
    plot_module: dict[str, str]

    def kind(self, name: str) -> Kind:
        return self.families[self.kind_module[name]].kinds[name]

    def plot(self, name: str) -> Plot:
        return self.families[self.plot_module[name]].plots[name]

    def claims(self, kind: str) -> list[Claim]:
        return self.families[self.kind_module[kind]].claims.get(kind, [])


@functools.cache
def registry() -> Registry:
    """The families of this package (every module not starting with ``_``)."""
    families, kind_module, plot_module = {}, {}, {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        family = families[info.name] = load_family(info.name)
        for table, names in ((kind_module, family.kinds), (plot_module, family.plots)):
            for name in names:
                if name in table:
                    raise ValueError(f"{name!r} is declared by both {table[name]} and {info.name}")
                table[name] = info.name
    return Registry(families, kind_module, plot_module)


def sweep_jobs(settings: dict, kind: Kind | None = None) -> dict[str, dict]:
    """The jobs of one sweep: job name (:func:`~implicit_bias.grids.param_key`) to the job's parameters."""
    from ..grids import param_key

    kind = kind or registry().kind(settings["kind"])
    jobs = {}
    for params in kind.jobs(settings):
        cid = param_key(params)
        if cid in jobs:
            raise ValueError(f"two jobs of one sweep share the name {cid!r}: {params}")
        jobs[cid] = params
    return jobs


def run_job(
    *,
    sweep: str,
    settings: dict,
    job: dict,
    outdir: str | Path,
    seed: int,
    device: str = "auto",
    dtype: str = "float64",
    threads: int = 1,
    code: str = "",
    module: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run one job and write ``summary.csv`` (and ``curves.csv``) into ``outdir``.

    :param module: the family module that declares the sweep's kind (None: look it up,
        which imports every family).
    :param code: the fingerprint of the code the job runs
        (:func:`~implicit_bias.fingerprint.kind_fingerprint`), recorded in both tables.
    :returns: the tables, with the columns ``sweep``, ``code``, ``device`` and ``wall_s``
        (the wall time of the job, which ran all its trials as one batch; ``batch_size``
        says how many) added.
    """
    import torch

    from ..devices import resolve_device, resolve_dtype

    torch.set_num_threads(max(1, int(threads)))
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        sweep=sweep,
        settings=settings,
        seed=seed,
        device=resolve_device(device),
        dtype=resolve_dtype(dtype),
        outdir=outdir,
        threads=max(1, int(threads)),
        progress=progress,
    )
    start = time.perf_counter()
    kind = registry().kind(settings["kind"]) if module is None else load_family(module).kinds[settings["kind"]]
    summary, curves = kind.run(ctx, job)
    wall = time.perf_counter() - start
    summary.insert(0, "sweep", sweep)
    summary["batch_size"] = summary.get("batch_size", len(summary))
    summary["wall_s"] = wall
    summary["device"] = str(ctx.device)
    summary["code"] = code
    write_table(summary, outdir / "summary.csv")
    if curves is None:
        curves = pd.DataFrame()
    elif not curves.empty:
        curves.insert(0, "sweep", sweep)
        curves["code"] = code
    write_table(curves, outdir / "curves.csv")
    return summary, curves


def draw_figure(module: str, plot: str, tables: dict, out_paths, stamp: str = "") -> None:
    """Draw ``plot`` (declared by family ``module``) from ``tables`` into each of ``out_paths``.

    :param stamp: a line set under the figure (say, that it is not at the papers' settings).
    """
    from ..plotting import pyplot, save_figures, stamp_figure, style

    with style():
        fig = load_family(module).plots[plot].draw(tables)
    try:
        save_figures(fig, out_paths, stamp_figure(fig, stamp) if stamp else None)
    finally:
        # A process that draws many figures (the Snakemake process) keeps none of them.
        pyplot().close(fig)


def figures(config: dict) -> dict[str, dict]:
    """Every figure of a validated configuration: name to ``{"plot", "sweeps"}``.

    The ``figures:`` section (those whose sweeps all run), plus the figures of each sweep
    that none of them draws: its kind's :attr:`Kind.plots`, the first named after the
    sweep, any others ``<sweep>_<plot>``.
    """
    reg = registry()
    out = {
        name: dict(spec)
        for name, spec in (config.get("figures") or {}).items()
        if all(s in config["resolved"] for s in spec["sweeps"])
    }
    drawn = {s for spec in out.values() for s in spec["sweeps"]}
    for sweep, settings in config["resolved"].items():
        if sweep in drawn:
            continue
        for i, plot in enumerate(reg.kind(settings["kind"]).plots):
            out[sweep if i == 0 else f"{sweep}_{plot}"] = {"plot": plot, "sweeps": [sweep]}
    return out


def figure_errors(config: dict, reg: Registry | None = None) -> list[str]:
    """What is wrong with the ``figures:`` section's plots: a plot no family declares, or one
    that cannot draw the kind of a sweep it is given.

    :param config: the configuration (its ``figures`` and ``sweeps``).
    :param reg: the families (None: this package's, :func:`registry`).
    :returns: one message per problem, naming the figure's key.
    """
    reg = reg or registry()
    sweeps = config.get("sweeps") or {}
    msgs = []
    for fig, spec in (config.get("figures") or {}).items():
        if spec["plot"] not in reg.plot_module:
            msgs.append(
                f"figures.{fig}.plot: unknown plot {spec['plot']!r}{suggest(spec['plot'], reg.plot_module)}"
                f"; known plots: {', '.join(sorted(reg.plot_module))}"
            )
            continue
        plot = reg.plot(spec["plot"])
        for sweep in spec["sweeps"]:
            kind = (sweeps.get(sweep) or {}).get("kind")
            if kind is not None and kind not in plot.kinds:
                msgs.append(
                    f"figures.{fig}.plot: plot {spec['plot']!r} draws sweeps of kind {', '.join(plot.kinds)}, "
                    f"not sweep {sweep!r} of kind {kind!r}"
                )
    return msgs
