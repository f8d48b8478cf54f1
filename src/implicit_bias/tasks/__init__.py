"""Experiment kinds: how a sweep splits into jobs, what a job runs, how its figure looks.

Each family module registers its kinds and plots here. The workflow calls only
:func:`sweep_cells`, :func:`run_cell` and :func:`draw_figure`, so a sweep of a known kind
needs config lines only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..config import short_number
from ..records import write_table
from ..seeding import resolve_device, resolve_dtype, trial_seed


@dataclass
class Context:
    """What a job knows besides its cell's parameters.

    :ivar sweep: the sweep's name.
    :ivar settings: the sweep's resolved settings.
    :ivar seed: the configuration's base seed.
    :ivar device: torch device.
    :ivar dtype: torch dtype of the matrix experiments.
    :ivar outdir: the cell's folder, for extra files (checkpoints, images).
    :ivar progress: show progress bars (on stderr, i.e. the job's log).
    """

    sweep: str
    settings: dict
    seed: int
    device: torch.device
    dtype: torch.dtype
    outdir: Path
    progress: bool = True

    def trial_seed(self, problem_cell: str, trial: int) -> int:
        return trial_seed(self.seed, self.sweep, problem_cell, trial)

    def label(self, text: str) -> str | None:
        return f"{self.sweep} {text}" if self.progress else None


@dataclass
class Kind:
    """An experiment family's entry points.

    :ivar cells: settings to the list of job parameter dicts (one job each).
    :ivar run: ``(ctx, cell) -> (summary, curves)``; curves may be None.
    :ivar default_plot: the plot drawn for a sweep that no figure names.
    :ivar resources: per-job hints for the workflow (``gpu``, ``mem_mb``, ``runtime``).
    :ivar files: files each job writes into its cell folder besides the tables (images,
        say); figures of the kind's sweeps get them as inputs and find them at
        ``results/<sweep>/cells/<cell>/<file>``, the cell named by the summary's ``cell``.
    """

    cells: Callable[[dict], list[dict]]
    run: Callable[[Context, dict], tuple[pd.DataFrame, pd.DataFrame | None]]
    default_plot: str
    resources: dict = field(default_factory=dict)
    files: tuple[str, ...] = ()


@dataclass
class Plot:
    """A figure-drawing function and its caption.

    :ivar draw: ``tables -> matplotlib Figure``; ``tables`` maps each sweep to a dict with
        ``settings``, ``summary``, ``curves`` and ``cells_dir`` (the sweep's cell folders).
    :ivar caption: ``settings -> str`` stating the settings, for the report; ``settings``
        maps each sweep to its resolved settings.
    """

    draw: Callable
    caption: Callable


KINDS: dict[str, Kind] = {}
PLOTS: dict[str, Plot] = {}


def register_kind(name: str, kind: Kind) -> None:
    KINDS[name] = kind


def register_plot(name: str, plot: Plot) -> None:
    PLOTS[name] = plot


def cell_id(params: dict) -> str:
    """A path-safe name for a job's parameters, ``alpha~7.071`` or ``method~dop``."""
    return "_".join(f"{k}~{short_number(v)}" for k, v in params.items())


def sweep_cells(settings: dict) -> dict[str, dict]:
    """The jobs of one sweep: cell name to the job's parameters."""
    kind = KINDS[settings["kind"]]
    cells = {}
    for params in kind.cells(settings):
        cid = cell_id(params)
        if cid in cells:
            raise ValueError(f"two jobs of one sweep share the name {cid!r}: {params}")
        cells[cid] = params
    return cells


def run_cell(
    sweep: str,
    settings: dict,
    cell: dict,
    outdir: str | Path,
    seed: int,
    device: str = "auto",
    dtype: str = "float64",
    threads: int = 1,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run one job and write ``summary.csv`` (and ``curves.csv``) into ``outdir``.

    Adds the columns ``sweep``, ``device`` and ``wall_s`` (the wall time of the job, which
    ran all its trials as one batch; ``batch_size`` says how many).
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
        progress=progress,
    )
    start = time.perf_counter()
    summary, curves = KINDS[settings["kind"]].run(ctx, cell)
    wall = time.perf_counter() - start
    summary.insert(0, "sweep", sweep)
    summary["batch_size"] = summary.get("batch_size", len(summary))
    summary["wall_s"] = wall
    summary["device"] = str(ctx.device)
    write_table(summary, outdir / "summary.csv")
    if curves is None:
        curves = pd.DataFrame()
    elif not curves.empty:
        curves.insert(0, "sweep", sweep)
    write_table(curves, outdir / "curves.csv")
    return summary, curves


def draw_figure(plot: str, tables: dict, out_paths) -> None:
    """Draw ``plot`` from ``tables`` into each of ``out_paths`` (PDF, PNG)."""
    from ..plotting import save_figure

    fig = PLOTS[plot].draw(tables)
    for path in out_paths:
        save_figure(fig, path)


def caption(plot: str, settings: dict) -> str:
    """The report caption of ``plot`` for sweeps with these ``settings``."""
    return PLOTS[plot].caption(settings)


def figures(config: dict) -> dict[str, dict]:
    """Every figure of a validated configuration: name to ``{"plot", "sweeps"}``.

    The ``figures:`` section, plus one figure per sweep that none of them draws, named
    after the sweep and drawn with its kind's default plot.
    """
    out = {name: dict(spec) for name, spec in (config.get("figures") or {}).items()}
    drawn = {s for spec in out.values() for s in spec["sweeps"]}
    for sweep, settings in config["resolved"].items():
        if sweep not in drawn:
            out[sweep] = {"plot": KINDS[settings["kind"]].default_plot, "sweeps": [sweep]}
    for name, spec in out.items():
        if spec["plot"] not in PLOTS:
            raise ValueError(f"figures.{name}.plot: unknown plot {spec['plot']!r}; known: {sorted(PLOTS)}")
    return out


# Families register their kinds and plots on import.
from . import images, rpca, rpca_phase, sensing, theory  # noqa: E402,F401
