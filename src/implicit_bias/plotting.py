"""Shared figure style (Agg backend, paper-sized fonts), colours, bands, and saving.

Matplotlib is imported when the first figure is made, not with this module, so that
compute jobs, which import the experiment families (and this module) but draw nothing,
do not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

STYLE = {
    # One resolution for layout and the PNG, so text is measured once (save_figures).
    "figure.dpi": 200,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
    "pdf.fonttype": 42,
}

#: One colour per method, the same in every figure.
METHOD_COLORS = {
    "dop": "#d62728",
    "apg": "#1f77b4",
    "pcp": "#2ca02c",
    "mf_l1_exact": "#1f77b4",
    "mf_l1_over": "#000000",
    "gd": "#1f77b4",
    "restarted": "#d62728",
    "dip": "#7f7f7f",
    "dip_l1": "#1f77b4",
}

METHOD_LABELS = {
    "dop": "DOP (double over-param.)",
    "apg": "APG (convex)",
    "pcp": "convex program, certified optimum",
    "mf_l1_exact": "MF-$\\ell_1$, exact rank",
    "mf_l1_over": "MF-$\\ell_1$, over-parameterized",
    "gd": "gradient descent",
    "restarted": "restarted GD (Alg. 1)",
    "dip": "DIP",
    "dip_l1": "DIP-$\\ell_1$",
}


@functools.cache
def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def style():
    """The house style for everything drawn inside (titles and legends added late included)."""
    with pyplot().rc_context(STYLE):
        yield


def legend_below(ax, ncol: int = 2, **kw):
    """A legend under the axes, so it never hides data."""
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=ncol, frameon=False, **kw)


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.6, **kw):
    """A figure of ``nrows x ncols`` panels, each ``width x height`` inches, in house style."""
    with style():
        return pyplot().subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def stamp_figure(fig, text: str):
    """Set ``text`` (small, grey, wrapped to the figure's width) under the figure.

    :returns: the box (inches) around everything ``fig`` now draws, stamp included, for
        :func:`save_figures` (the figure is laid out once for both).
    """
    from matplotlib.transforms import Bbox

    width = max(60, int(fig.get_figwidth() * 22))
    with style():
        # Below everything drawn so far: axis labels reach under the figure's own frame.
        box = _tight_box(fig)
        note = fig.text(
            0.5,
            box.y0 / fig.get_figheight() - 0.01,
            textwrap.fill(text, width),
            ha="center",
            va="top",
            fontsize=6.5,
            color="0.35",
            transform=fig.transFigure,
        )
        # A figure-level text moves nothing else, so the new box is the old one and the stamp's.
        extent = note.get_window_extent(fig.canvas.get_renderer()).transformed(fig.dpi_scale_trans.inverted())
        return Bbox.union([box, extent])


def _tight_box(fig):
    """The box (inches) around everything ``fig`` draws, laid out without rendering."""
    fig.draw_without_rendering()
    return fig.get_tightbbox(fig.canvas.get_renderer())


def save_figures(fig, paths, box=None) -> None:
    """Save ``fig`` to each of ``paths`` (format from the suffix), creating folders.

    The tight box around the figure is computed once, at the figure's resolution, and given
    to every format, instead of each save laying the figure out twice to find it.

    :param box: that box (inches, unpadded), where the caller has it (:func:`stamp_figure`).
    """
    with style():
        box = (_tight_box(fig) if box is None else box).padded(pyplot().rcParams["savefig.pad_inches"])
        for path in map(Path, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, bbox_inches=box)


def mean_band(frame: pd.DataFrame, by: str, value: str, spread: float = 1.0) -> pd.DataFrame:
    """Mean of ``value`` over trials at each ``by``, with ``lo``/``hi`` = mean -+ spread*std."""
    g = frame.groupby(by)[value]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0).fillna(0.0), "count": g.size()})
    out["lo"] = out["mean"] - spread * out["std"]
    out["hi"] = out["mean"] + spread * out["std"]
    return out.reset_index()


def geometric_band(frame: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """Geometric mean with a one-sigma band in log space, for log-scale axes."""
    logs = frame.assign(_log=np.log10(frame[value].clip(lower=1e-300)))
    out = mean_band(logs, by, "_log")
    for col in ("mean", "lo", "hi"):
        out[col] = 10.0 ** out[col]
    return out
