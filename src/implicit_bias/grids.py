"""Grid values and the path-safe names of the jobs and problems they make."""

from __future__ import annotations

import math

#: Settings that change no number a job computes: how often a run saves a checkpoint to
#: resume from, and the folder its inputs are read from.
BOOKKEEPING_KEYS = ("checkpoint_every", "image_dir")
#: Settings that change only which iterations the curves record (how finely a figure's
#: curves are sampled), not the problem, the method or its budget.
RECORDING_KEYS = ("record_every",)


def short_number(value) -> str:
    """A short, path-safe literal for a grid value: ``7.071``, ``0.3``, ``1e-05``, ``20``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def param_key(params: dict) -> str:
    """A path-safe name for parameters, ``alpha~7.071`` or ``n~50_rank~5_p~0.3``.

    Names a job of a sweep and, from the problem's parameters alone, the problem
    instance whose data the trials of several jobs share (see :func:`~implicit_bias.seeding.trial_seed`).
    """
    return "_".join(f"{k}~{short_number(v)}" for k, v in params.items())


def log_grid(lo: float, hi: float, num: int, digits: int = 3) -> list[float]:
    """``num`` log-spaced values from ``lo`` to ``hi``, rounded to ``digits`` significant digits."""
    if num == 1:
        return [float(lo)]
    out = []
    for i in range(num):
        v = math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (num - 1))
        out.append(float(f"{v:.{digits}g}"))
    return out


def alpha_grid(n: int, lo: float, hi: float, num: int) -> list[float]:
    """The learning-rate ratios of an alpha sweep: ``num`` log-spaced values from ``lo`` to
    ``hi`` (3 significant digits) plus sqrt(n), the paper's recommendation, always on the grid
    at full precision (a grid value within 0.1% of it gives way)."""
    root = math.sqrt(n)
    grid = [a for a in log_grid(lo, hi, num) if not math.isclose(a, root, rel_tol=1e-3)] + [root]
    return sorted(grid)
