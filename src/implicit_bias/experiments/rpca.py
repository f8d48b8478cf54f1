"""Robust-PCA experiments: the alpha sweep (Fig. 2a) and the learning curves (Fig. 1a)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..grids import alpha_grid, cell_id, short_number
from ..plotting import METHOD_COLORS, METHOD_LABELS, figure, geometric_band, legend_below, mean_band
from ..records import tidy
from ..rpca import dop_descent, learning_rate_ratio, mf_l1_descent, relative_error, rpca_problem
from ..scorecard import Claim
from ..seeding import trial_rngs
from . import Context, Family, Kind, Plot, fixed_resources


def planted_batch(ctx: Context, s: dict, trials, *, rank: int, p: float):
    """The planted problems of ``trials`` and their initialization generators.

    The trials of one problem cell (:func:`~implicit_bias.grids.cell_id` of ``n``, ``rank``
    and ``p``) share their data across methods and sweeps' jobs.

    :returns: ``(X, S, seeds, init_rngs)``; ``X``, ``S`` are ``(B, n, n)`` tensors on the
        context's device; each trial is drawn alone, so batching never changes its data.
    """
    cell = cell_id({"n": s["n"], "rank": rank, "p": p})
    Xs, Ss, seeds, init_rngs = [], [], [], []
    for t in trials:
        seed = ctx.trial_seed(cell, t)
        problem_rng, init_rng = trial_rngs(seed, 2)
        inst = rpca_problem(s["n"], rank, p, problem_rng, s["outlier_std"])
        Xs.append(inst.X)
        Ss.append(inst.S)
        seeds.append(seed)
        init_rngs.append(init_rng)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    return torch.from_numpy(np.stack(Xs)).to(**to), torch.from_numpy(np.stack(Ss)).to(**to), seeds, init_rngs


def dop_init(init_rngs, n: int, scale: float, like: torch.Tensor):
    """``U0`` and ``g0`` iid N(0, scale^2), ``h0 = g0`` (paper Sec. 4.1), drawn per trial."""
    U0, g0 = [], []
    for rng in init_rngs:
        U0.append(rng.normal(0.0, scale, (n, n)))
        g0.append(rng.normal(0.0, scale, (n, n)))
    U0 = torch.from_numpy(np.stack(U0)).to(like)
    g0 = torch.from_numpy(np.stack(g0)).to(like)
    return U0, g0, g0.clone()


def curves_frame(result, base: dict, trials) -> pd.DataFrame:
    """Recorded curves of a batched run as a tidy frame, one row per (trial, iteration)."""
    its = result.iterations.cpu().numpy()
    frames = []
    for b, t in enumerate(trials):
        cols = {"iteration": its}
        for name, values in result.curves.items():
            cols[name] = values[:, b].detach().cpu().numpy()
        frame = pd.DataFrame(cols)
        for k, v in reversed(base.items()):
            frame.insert(0, k, v)
        frame.insert(len(base), "trial", t)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def sweep_alphas(s: dict) -> list[float]:
    """The alpha grid of a sweep's settings (``alpha_min``, ``alpha_max``, ``alpha_num``)."""
    return alpha_grid(s["n"], s["alpha_min"], s["alpha_max"], s["alpha_num"])


def alpha_cells(s: dict) -> list[dict]:
    """One job: every alpha and trial of the grid as one batch."""
    return [{"alphas": len(sweep_alphas(s)), "trials": s["trials"]}]


def dop_over_alphas(ctx: Context, s: dict, alphas: list[float], trials):
    """DOP at every alpha on the problems of ``trials``, as one batch: element ``(a, t)``
    (alpha-major) solves trial ``t``'s problem from trial ``t``'s initialization with ratio
    ``alphas[a]``, the same problem and start at every alpha.

    :returns: ``(X, S, seeds, result)``, ``X``, ``S`` and ``seeds`` per element.
    """
    trials = list(trials)
    X, S, seeds, init_rngs = planted_batch(ctx, s, trials, rank=s["rank"], p=s["p"])
    U0, g0, h0 = dop_init(init_rngs, s["n"], s["init_scale"], X)
    rep = lambda t: t.repeat(len(alphas), *([1] * (t.dim() - 1)))  # noqa: E731
    per_element = torch.tensor([a for a in alphas for _ in trials], dtype=X.dtype, device=X.device)
    Xb, Sb = rep(X), rep(S)
    result = dop_descent(
        Xb + Sb,
        rep(U0),
        rep(g0),
        rep(h0),
        per_element,
        s["lr"],
        steps=s["steps"],
        record_every=s["record_every"],
        X_true=Xb,
        S_true=Sb,
        desc=ctx.label(f"dop, {len(alphas)} alphas x {len(trials)} trials"),
    )
    return Xb, Sb, seeds * len(alphas), result


def run_alpha(ctx: Context, cell: dict):
    s = ctx.settings
    alphas = [float(short_number(a)) if a != math.sqrt(s["n"]) else a for a in sweep_alphas(s)]
    trials = list(range(s["trials"]))
    X, S, seeds, res = dop_over_alphas(ctx, s, alphas, trials)
    err_x = relative_error(res.X, X).cpu().numpy()
    err_s = relative_error(res.S, S).cpu().numpy()
    diverged = res.diverged.cpu().numpy()
    fixed = {
        "n": s["n"],
        "rank": s["rank"],
        "p": s["p"],
        "steps": s["steps"],
        "lr": s["lr"],
        "init_scale": s["init_scale"],
    }
    rows, frames = [], []
    for i, (alpha, t) in enumerate((a, t) for a in alphas for t in trials):
        rows.append(
            {
                "method": "dop",
                "cell": cell_id(cell),
                "trial": t,
                "seed": seeds[i],
                **fixed,
                "alpha": alpha,
                "lambda": 1.0 / alpha,
                "rel_err_X": err_x[i],
                "rel_err_S": err_s[i],
                "success": bool(err_x[i] < s["success_threshold"]) and not diverged[i],
                "diverged": bool(diverged[i]),
            }
        )
        frames.append(curves_frame(res.select(i), {"method": "dop", "alpha": alpha}, [t]))
    return tidy(rows), pd.concat(frames, ignore_index=True)


def method_cells(s: dict) -> list[dict]:
    """One job per method."""
    return [{"method": m} for m in s["methods"]]


def run_curves(ctx: Context, cell: dict):
    s = ctx.settings
    method = cell["method"]
    n, rank = s["n"], s["rank"]
    trials = range(s["trials"])
    if method == "dop":
        alpha = learning_rate_ratio(s["alpha"], n)
        X, S, seeds, res = dop_over_alphas(ctx, s, [alpha], trials)
        extra = {"alpha": alpha, "lr": s["lr"], "init_scale": s["init_scale"]}
    else:
        X, S, seeds, init_rngs = planted_batch(ctx, s, trials, rank=rank, p=s["p"])
        k = rank if method == "mf_l1_exact" else n
        U0 = torch.from_numpy(np.stack([r.normal(0.0, s["mf_init_scale"], (n, k)) for r in init_rngs])).to(X)
        res = mf_l1_descent(
            X + S, U0, s["mf_lr"], steps=s["steps"], record_every=s["record_every"], X_true=X, desc=ctx.label(method)
        )
        extra = {"lr": s["mf_lr"], "init_scale": s["mf_init_scale"], "width": k}
    err_x = relative_error(res.X, X).cpu().numpy()
    curve_x = res.curves["rel_err_X"].cpu().numpy()
    best = np.nanmin(curve_x, axis=0)
    diverged = res.diverged.cpu().numpy()
    rows = [
        {
            "method": method,
            "cell": cell_id({"method": method}),
            "trial": t,
            "seed": seeds[i],
            "n": n,
            "rank": rank,
            "p": s["p"],
            "steps": s["steps"],
            **extra,
            "rel_err_X": err_x[i],
            "rel_err_X_best": best[i],
            "diverged": bool(diverged[i]),
        }
        for i, t in enumerate(trials)
    ]
    curves = curves_frame(res, {"method": method}, trials)
    return tidy(rows), curves


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def _draw_alpha_sweep(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"]
    fig, axes = figure(1, 1, width=3.6, height=2.7)
    ax = axes[0, 0]
    for metric, label, marker, color in (
        ("rel_err_X", "$\\|\\tilde X - X_*\\|_F / \\|X_*\\|_F$", "o", "#d62728"),
        ("rel_err_S", "$\\|\\tilde S - S_*\\|_F / \\|S_*\\|_F$", "s", "#1f77b4"),
    ):
        band = mean_band(summary, "alpha", metric)
        ax.plot(band["alpha"], band["mean"], marker=marker, ms=3.5, color=color, label=label)
        ax.fill_between(band["alpha"], band["lo"].clip(lower=0), band["hi"], color=color, alpha=0.2, lw=0)
    ax.axvline(math.sqrt(s["n"]), color="0.3", ls="--", lw=1)
    ax.annotate(
        "$\\alpha=\\sqrt{n}$",
        (math.sqrt(s["n"]), 0.97),
        xycoords=ax.get_xaxis_transform(),
        xytext=(3, 0),
        textcoords="offset points",
        va="top",
        fontsize=8,
        color="0.3",
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning-rate ratio $\\alpha$")
    ax.set_ylabel("relative error")
    ax.set_title(f"DOP, n={s['n']}, r={s['rank']}, p={s['p']}")
    legend_below(ax)
    return fig


def _caption_alpha_sweep(settings):
    ((sweep, s),) = settings.items()
    trials = s["trials"]
    return (
        f"Relative error of the low-rank (X) and sparse (S) estimates of double "
        f"over-parameterization against the learning-rate ratio alpha (sweep {sweep}): "
        f"n = {s['n']}, rank {s['rank']}, corruption p = {s['p']}, {s['steps']} steps of "
        f"size tau = {s['lr']:g}, initialization scale {s['init_scale']:g}; mean and one "
        f"standard deviation over {trials} trials. The dashed line marks alpha = sqrt(n), "
        f"the paper's choice (You et al. 2020, Fig. 2a)."
    )


def _draw_curves(tables):
    ((sweep, tab),) = tables.items()
    s, curves = tab["settings"], tab["curves"]
    fig, axes = figure(1, 1, width=3.6, height=2.7)
    ax = axes[0, 0]
    for method in ("mf_l1_exact", "mf_l1_over", "dop"):
        part = curves[curves["method"] == method]
        if part.empty:
            continue
        band = geometric_band(part, "iteration", "rel_err_X")
        ax.plot(band["iteration"], band["mean"], color=METHOD_COLORS[method], label=METHOD_LABELS[method])
        ax.fill_between(band["iteration"], band["lo"], band["hi"], color=METHOD_COLORS[method], alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative error of $X$")
    ax.set_title(f"robust PCA, n={s['n']}, r={s['rank']}, p={s['p']}")
    legend_below(ax, ncol=1)
    return fig


def _caption_curves(settings):
    ((sweep, s),) = settings.items()
    trials = s["trials"]
    alpha = learning_rate_ratio(s["alpha"], s["n"])
    return (
        f"Learning curves of robust PCA (sweep {sweep}; You et al. 2020, Fig. 1a): relative "
        f"error of X against iteration for MF-l1 with the exact rank {s['rank']} and with "
        f"U of size n x n (subgradient step {s['mf_lr']:g}, initialization scale "
        f"{s['mf_init_scale']:g}, our choices), and DOP with alpha = {alpha:.3g} "
        f"(tau = {s['lr']:g}). n = {s['n']}, p = {s['p']}; geometric mean and one-sigma band "
        f"over {trials} trials."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


def _best_alpha(s, tables):
    means = tables["summary"].groupby("alpha")["rel_err_X"].mean()
    best, root = float(means.idxmin()), math.sqrt(s["n"])
    return f"best alpha {best:.3g} (sqrt(n) = {root:.3g}, ratio {best / root:.2f})", 1 / 1.5 <= best / root <= 1.5


def rows_at_sqrt_n(summary: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of a table whose ``alpha`` is the paper's choice, sqrt(n)."""
    return summary[np.isclose(summary["alpha"], math.sqrt(n))]


def _error_at_root(s, tables):
    at = rows_at_sqrt_n(tables["summary"], s["n"])
    err = at["rel_err_X"].mean()
    return f"mean rel. error of X {err:.3g} over {len(at)} trials", bool(err < 0.1)


def _mean_curve(curves, method):
    return curves[curves["method"] == method].groupby("iteration")["rel_err_X"].mean()


def _mf_over_overfits(s, tables):
    curve = _mean_curve(tables["curves"], "mf_l1_over")
    ratio = curve.iloc[-1] / curve.min()
    return (
        f"min {curve.min():.3g} at iteration {int(curve.idxmin())}, final {curve.iloc[-1]:.3g} "
        f"({ratio:.1f}x its minimum)"
    ), bool(ratio >= 5)


def _final_below(method):
    def check(s, tables):
        final = _mean_curve(tables["curves"], method).iloc[-1]
        return f"final mean rel. error of X {final:.3g}", bool(final < 0.1)

    return check


FAMILY = Family(
    kinds={
        "rpca_alpha": Kind(
            cells=alpha_cells,
            run=run_alpha,
            plots=("alpha_sweep",),
            resources=fixed_resources(threads=2, mem_mb=2000, runtime=60),
        ),
        "rpca_curves": Kind(
            cells=method_cells,
            run=run_curves,
            plots=("rpca_curves",),
            resources=fixed_resources(mem_mb=1000, runtime=15),
        ),
    },
    plots={
        "alpha_sweep": Plot(draw=_draw_alpha_sweep, caption=_caption_alpha_sweep, kinds=("rpca_alpha",)),
        "rpca_curves": Plot(draw=_draw_curves, caption=_caption_curves, kinds=("rpca_curves",)),
    },
    claims={
        "rpca_alpha": [
            Claim(
                "best_alpha",
                "DOP's best learning-rate ratio is alpha = sqrt(n) (within a factor 1.5; n = {n})",
                "alpha_sweep",
                "best alpha = sqrt(n)",
                ("quick", "paper"),
                _best_alpha,
            ),
            Claim(
                "recovers_at_sqrt_n",
                "At alpha = sqrt(n), DOP recovers X (mean relative error < 0.1; r = {rank}, p = {p})",
                "alpha_sweep",
                "error near 0 at sqrt(n)",
                ("quick", "paper"),
                _error_at_root,
            ),
        ],
        "rpca_curves": [
            Claim(
                "mf_over_overfits",
                "Over-parameterized MF-l1 overfits the corruptions (final error >= 5x its minimum)",
                "rpca_curves",
                "error falls, then rises",
                ("quick", "paper"),
                _mf_over_overfits,
            ),
            Claim(
                "mf_exact_recovers",
                "MF-l1 with the exact rank recovers X (final relative error < 0.1)",
                "rpca_curves",
                "recovers",
                ("quick", "paper"),
                _final_below("mf_l1_exact"),
            ),
            Claim(
                "dop_no_early_stop",
                "DOP recovers X without early stopping (final relative error < 0.1)",
                "rpca_curves",
                "recovers, no overfitting",
                ("quick", "paper"),
                _final_below("dop"),
            ),
        ],
    },
)
