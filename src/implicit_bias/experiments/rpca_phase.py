"""Robust-PCA phase transitions in rank and corruption (You et al. 2020, Figs. 2b and 2c).

One job per (method, rank): all corruption levels and trials of that row of the grid run
as one batch, DOP as one tensor program, APG as one batched solver call.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..apg import apg_rpca, pcp_lambda
from ..grids import cell_id
from ..plotting import figure
from ..records import tidy
from ..rpca import dop_descent, learning_rate_ratio, relative_error
from ..scorecard import Claim
from . import Context, Family, Kind, Plot, fixed_resources
from .rpca import dop_init, planted_batch


def _alpha(s: dict) -> float:
    return learning_rate_ratio(s["alpha"], s["n"])


def _lambda(s: dict) -> float:
    return pcp_lambda(s["lambda"], s["n"])


def row_cells(s: dict) -> list[dict]:
    """One job per (method, rank): a row of the grid."""
    return [{"method": m, "rank": int(r)} for m in s["methods"] for r in s["ranks"]]


def _row_problems(ctx: Context, s: dict, rank: int, trials):
    """Every (p, trial) problem of one grid row, stacked: ``(X, S, seeds, init_rngs, ps)``."""
    Xs, Ss, seeds, rngs, ps = [], [], [], [], []
    for p in s["ps"]:
        X, S, sd, ir = planted_batch(ctx, s, trials, rank=rank, p=p)
        Xs.append(X)
        Ss.append(S)
        seeds += sd
        rngs += ir
        ps += [p] * len(trials)
    return torch.cat(Xs), torch.cat(Ss), seeds, rngs, ps


def run_row(ctx: Context, cell: dict):
    s = ctx.settings
    method, rank = cell["method"], int(cell["rank"])
    n = s["n"]
    trials = list(range(s["trials"]))
    X, S, seeds, init_rngs, ps = _row_problems(ctx, s, rank, trials)
    Y = X + S
    params = {"n": n, "rank": rank}
    if method == "dop":
        alpha = _alpha(s)
        U0, g0, h0 = dop_init(init_rngs, n, s["init_scale"], X)
        res = dop_descent(
            Y,
            U0,
            g0,
            h0,
            alpha,
            s["lr"],
            steps=s["steps"],
            record_every=s["steps"],
            desc=ctx.label(f"dop rank={rank} ({len(ps)} problems)"),
        )
        X_hat, S_hat, diverged = res.X, res.S, res.diverged.cpu().numpy()
        extra = {
            "alpha": alpha,
            "lambda": 1.0 / alpha,
            "steps": s["steps"],
            "lr": s["lr"],
            "init_scale": s["init_scale"],
        }
        per_trial = {}
    elif method == "apg":
        lam = _lambda(s)
        res = apg_rpca(Y, lam, tol=s["apg_tol"], max_iter=s["apg_max_iter"])
        X_hat, S_hat = res.X, res.S
        diverged = ~torch.isfinite(res.residual).cpu().numpy()
        extra = {"lambda": lam}
        per_trial = {"iterations": res.iterations.cpu().numpy(), "converged": res.converged.cpu().numpy()}
    else:
        raise ValueError(f"unknown method {method!r} for rpca_phase; known: dop, apg")
    err_x = relative_error(X_hat, X).cpu().numpy()
    err_s = relative_error(S_hat, S).cpu().numpy()
    rows = []
    for i, seed in enumerate(seeds):
        ok = bool(err_x[i] < s["success_threshold"]) and not bool(diverged[i])
        row = {
            "method": method,
            "cell": cell_id({"method": method, "rank": rank}),
            "trial": trials[i % len(trials)],
            "seed": seed,
            **params,
            "p": ps[i],
            **extra,
            "rel_err_X": err_x[i],
            "rel_err_S": err_s[i],
            "success": ok,
            "diverged": bool(diverged[i]),
        }
        row.update({k: v[i] for k, v in per_trial.items()})
        rows.append(row)
    return tidy(rows), None


# ---------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------


def _ticks(ax, values, axis: str, most: int = 9) -> None:
    """Label the equal-width cells of a (possibly uneven) grid with their values."""
    step = max(1, math.ceil(len(values) / most))
    where = np.arange(len(values))[::step]
    labels = [f"{v:g}" for v in np.asarray(values)[::step]]
    if axis == "x":
        ax.set_xticks(where, labels)
    else:
        ax.set_yticks(where, labels)


def success_grid(summary: pd.DataFrame, method: str):
    """Success fraction of ``method`` as a ``(ranks, ps)`` grid: ``(ranks, ps, fraction)``."""
    part = summary[summary["method"] == method]
    table = part.pivot_table(index="rank", columns="p", values="success", aggfunc="mean")
    return table.index.to_numpy(), table.columns.to_numpy(), table.to_numpy(dtype=float)


def _draw(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"].copy()
    summary["success"] = summary["success"].astype(float)
    methods = [m for m in ("apg", "dop") if m in set(summary["method"])]
    fig, axes = figure(len(methods), 1, width=3.0, height=2.9, sharey=True, gridspec_kw={"wspace": 0.08})
    titles = {"apg": f"APG (convex), $\\lambda = {_lambda(s):.3g}$", "dop": f"DOP, $\\alpha = {_alpha(s):.3g}$"}
    mesh = None
    for ax, method in zip(axes[0], methods, strict=True):
        ranks, ps, frac = success_grid(summary, method)
        # One equal cell per grid point, as in the paper; ticks carry the values.
        mesh = ax.imshow(frac, cmap="gray", vmin=0, vmax=1, origin="lower", aspect="auto", interpolation="nearest")
        _ticks(ax, ps, "x")
        _ticks(ax, ranks, "y")
        ax.set_title(titles[method])
        ax.set_xlabel("corruption $p$")
        ax.grid(False)
    axes[0, 0].set_ylabel("rank $r$")
    cbar = fig.colorbar(mesh, ax=list(axes[0]), fraction=0.04, pad=0.02)
    cbar.set_label("fraction of successful trials")
    fig.suptitle(f"robust PCA phase transition, n = {s['n']}, {s['trials']} trials per cell", y=1.04, fontsize=9)
    return fig


def _caption(settings):
    ((sweep, s),) = settings.items()
    return (
        f"Fraction of successful recoveries (relative error of X below "
        f"{s['success_threshold']:g}) over {s['trials']} trials per cell (sweep {sweep}; "
        f"You et al. 2020, Figs. 2b, 2c), white = always succeeds. Rank r on the vertical "
        f"axis ({len(s['ranks'])} values from {min(s['ranks'])} to {max(s['ranks'])}), "
        f"corruption p on the horizontal axis ({len(s['ps'])} values from {min(s['ps']):g} "
        f"to {max(s['ps']):g}), n = {s['n']}. Left: the convex program "
        f"min ||X||_* + lambda ||S||_1 s.t. X + S = Y with lambda = {_lambda(s):.3g}, solved "
        f"by accelerated proximal gradient with continuation (Lin et al. 2009; tolerance "
        f"{s['apg_tol']:g}). Right: DOP with alpha = {_alpha(s):.3g}, {s['steps']} steps of "
        f"size tau = {s['lr']:g}, initialization scale {s['init_scale']:g}. Both methods see "
        f"the same problems."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


def _fractions(summary):
    return summary.assign(success=summary["success"].astype(float)).groupby(["method", "rank", "p"])["success"].mean()


def _corner(summary, easy: bool):
    if easy:
        part = summary[(summary["rank"] <= 3) & (summary["p"] <= 0.1)]
    else:
        part = summary[(summary["rank"] >= 20) & (summary["p"] >= 0.4)]
    return part.assign(success=part["success"].astype(bool))


def _easy_corner(s, tables):
    part = _corner(tables["summary"], True)
    rates = part.groupby("method")["success"].mean()
    text = ", ".join(f"{m}: {v:.2f} of {int((part['method'] == m).sum())} trials" for m, v in rates.items())
    return text, bool(len(part)) and bool(part["success"].all())


def _hard_corner(s, tables):
    part = _corner(tables["summary"], False)
    rates = part.groupby("method")["success"].mean()
    text = ", ".join(f"{m}: {v:.2f} of {int((part['method'] == m).sum())} trials" for m, v in rates.items())
    return text, bool(len(part)) and not bool(part["success"].any())


def _dop_region(s, tables):
    frac = _fractions(tables["summary"])
    cells = {m: int((frac.xs(m, level="method") >= 0.5).sum()) for m in ("apg", "dop")}
    total = len(frac.xs("dop", level="method"))
    return (
        f"cells with success >= 0.5: DOP {cells['dop']}, APG {cells['apg']} of {total}",
        cells["dop"] >= cells["apg"],
    )


FAMILY = Family(
    kinds={
        "rpca_phase": Kind(
            cells=row_cells,
            run=run_row,
            plots=("phase_transition",),
            resources=fixed_resources(mem_mb=2000, runtime=120),
        ),
    },
    plots={"phase_transition": Plot(draw=_draw, caption=_caption, kinds=("rpca_phase",))},
    claims={
        "rpca_phase": [
            Claim(
                "easy_corner",
                "Both APG and DOP recover X in every trial with rank <= 3 and p <= 0.1",
                "phase_transition",
                "white corner (Figs. 2b, 2c)",
                ("quick", "paper"),
                _easy_corner,
            ),
            Claim(
                "hard_corner",
                "Both fail in every trial with rank >= 20 and p >= 0.4",
                "phase_transition",
                "black corner (Figs. 2b, 2c)",
                ("quick", "paper"),
                _hard_corner,
            ),
            Claim(
                "dop_region",
                "DOP (alpha = sqrt(n)) succeeds on at least as large a region as the convex "
                "program (lambda = 1/sqrt(n))",
                "phase_transition",
                "wide region, compared with APG (Figs. 2b, 2c)",
                ("quick", "paper"),
                _dop_region,
            ),
        ],
    },
)
