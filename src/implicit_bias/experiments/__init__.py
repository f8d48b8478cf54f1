"""Experiment families: how a sweep of each kind splits into jobs, what a job runs, the
figures drawn from its tables and the claims judged on them.

Each module of this package is one family. It declares, as a module-level ``FAMILY``
(:class:`Family`), its kinds (the config's ``kind:``), its plots and its scorecard claims.
:func:`registry` finds the modules and reads their declarations; a job imports only the
module of its own kind (:func:`load_family`), so it imports only what that family needs.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..devices import resolve_device, resolve_dtype
from ..records import write_table
from ..scorecard import Claim
from ..seeding import trial_seed


@dataclass
class Context:
    """What a job knows besides its cell's parameters.

    :ivar sweep: the sweep's name.
    :ivar settings: the sweep's resolved settings.
    :ivar seed: the configuration's base seed.
    :ivar device: torch device.
    :ivar dtype: torch dtype of the matrix experiments.
    :ivar outdir: the cell's folder, for extra files (checkpoints, images).
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

    def trial_seed(self, problem_cell: str, trial: int) -> int:
        return trial_seed(self.seed, self.sweep, problem_cell, trial)

    def label(self, text: str) -> str | None:
        return f"{self.sweep} {text}" if self.progress else None


@dataclass(frozen=True)
class Kind:
    """A kind of sweep.

    :ivar cells: settings to the list of job parameter dicts (one job each).
    :ivar run: ``(ctx, cell) -> (summary, curves)``; curves may be None.
    :ivar plots: the plots drawn for a sweep that no figure names: the first as figure
        ``<sweep>``, any others as ``<sweep>_<plot>``.
    :ivar resources: settings to what one job asks the scheduler for: ``threads``,
        ``mem_mb``, ``runtime`` (minutes) and ``gpu``.
    :ivar files: settings to the files each job writes into its cell folder besides the
        tables (images, say); they are outputs of the job, and figures of the kind's sweeps
        get them as inputs at ``results/<sweep>/cells/<cell>/<file>``.
    :ivar preflight: settings to a list of ``(key, problem)`` found before any job runs,
        about what the jobs will read (images, say); None: nothing to check.
    :ivar share: ``(settings, cell) -> key``: cells of different sweeps with one key are one
        computation, run once (None: every cell is its own).
    """

    cells: Callable[[dict], list[dict]]
    run: Callable[[Context, dict], tuple[pd.DataFrame, pd.DataFrame | None]]
    plots: tuple[str, ...]
    resources: Callable[[dict], dict]
    files: Callable[[dict], tuple[str, ...]] = lambda settings: ()
    preflight: Callable[[dict], list[tuple[str, str]]] | None = None
    share: Callable[[dict, dict], str] | None = None


def fixed_resources(threads: int = 1, mem_mb: int = 1000, runtime: int = 60, gpu: int = 0):
    """A :attr:`Kind.resources` that asks the same of every job."""

    def resources(settings: dict) -> dict:
        return {"threads": threads, "mem_mb": mem_mb, "runtime": runtime, "gpu": gpu}

    return resources


@dataclass(frozen=True)
class Plot:
    """A figure-drawing function and its caption.

    :ivar draw: ``tables -> matplotlib Figure``; ``tables`` maps each sweep to a dict with
        ``settings``, ``summary``, ``curves`` and ``cells_dir`` (the sweep's cell folders).
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


def sweep_cells(settings: dict, kind: Kind | None = None) -> dict[str, dict]:
    """The jobs of one sweep: cell name (:func:`~implicit_bias.grids.cell_id`) to the job's parameters."""
    from ..grids import cell_id

    kind = kind or registry().kind(settings["kind"])
    cells = {}
    for params in kind.cells(settings):
        cid = cell_id(params)
        if cid in cells:
            raise ValueError(f"two jobs of one sweep share the name {cid!r}: {params}")
        cells[cid] = params
    return cells


def run_cell(
    *,
    sweep: str,
    settings: dict,
    cell: dict,
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
    summary, curves = kind.run(ctx, cell)
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
    from ..plotting import save_figure, stamp_figure, style

    with style():
        fig = load_family(module).plots[plot].draw(tables)
    if stamp:
        stamp_figure(fig, stamp)
    for path in out_paths:
        save_figure(fig, path)


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
