"""Matrix-sensing experiments: initialization rank and norm (Eftekhari & Zygalakis 2021,
Figs. 1-3) and their restarted Algorithm 1 against plain gradient descent (Fig. 5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..grids import cell_id, short_number
from ..plotting import METHOD_COLORS, METHOD_LABELS, figure, mean_band
from ..records import tidy
from ..scorecard import Claim
from ..seeding import numpy_rng, trial_rngs
from ..sensing import random_factor, restarted_descent, sensing_descent, sensing_problem
from . import Context, Family, Kind, Plot, fixed_resources

#: One colour per initialization rank in the init-norm figure (low rank warm, high rank cold).
RANK_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]


def measurements(s: dict) -> int:
    """The number of measurements: the paper's ``4 * rank * n`` unless ``m`` is set."""
    return 4 * s["rank"] * s["n"] if s["m"] is None else int(s["m"])


def problem_cell(s: dict) -> str:
    """The name of the problem's parameters; runs of one sweep with this name share data."""
    return cell_id({"n": s["n"], "rank": s["rank"], "m": measurements(s)})


def sensing_batch(ctx: Context, s: dict, trials):
    """The planted problems of ``trials`` on the context's device.

    With ``shared_data`` (Example 1.1: "both X and A are then fixed throughout") every trial
    sees the data of trial 0; otherwise each trial draws its own.

    :returns: ``(A, b, X, data_seeds)``; ``A`` is ``(m, n, n)`` when shared, else
        ``(T, m, n, n)``, and ``b``, ``X`` match.
    """
    cell = problem_cell(s)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    data_trials = [0] if s["shared_data"] else list(trials)
    insts, seeds = [], []
    for t in data_trials:
        seed = ctx.trial_seed(cell, t)
        (data_rng,) = trial_rngs(seed, 1)
        insts.append(sensing_problem(s["n"], s["rank"], measurements(s), data_rng))
        seeds.append(seed)
    A = torch.from_numpy(np.stack([i.A for i in insts])).to(**to)
    b = torch.from_numpy(np.stack([i.b for i in insts])).to(**to)
    X = torch.from_numpy(np.stack([i.X for i in insts])).to(**to)
    if s["shared_data"]:
        return A[0], b[0], X[0], seeds * len(list(trials))
    return A, b, X, seeds


def repeat_data(A, b, X, shared: bool, times: int):
    """Per-trial data repeated ``times`` (for several initializations of each trial)."""
    if shared:
        return A, b, X
    return (A.repeat(times, 1, 1, 1), b.repeat(times, 1), X.repeat(times, 1, 1))


def curve_marks(steps_run: int, record_every: int, extra=()) -> np.ndarray:
    """Recorded iterations: 0, every ``record_every``, the last, and any ``extra``."""
    marks = set(range(0, steps_run + 1, record_every)) | {steps_run}
    marks |= {int(k) for k in extra if 0 <= k <= steps_run}
    return np.array(sorted(marks))


def _final(values: torch.Tensor) -> np.ndarray:
    return values[-1].detach().cpu().numpy()


# ---------------------------------------------------------------------------------------
# sensing_init: Figs. 1-3
# ---------------------------------------------------------------------------------------


def init_cells(s: dict) -> list[dict]:
    """One job per (initialization norm, step): the norms at the sweep's step, and the extra runs."""
    cells = [{"init_norm": float(v), "lr": float(s["lr"])} for v in s["init_norms"]]
    cells += [{"init_norm": float(e["init_norm"]), "lr": float(e["lr"])} for e in s["extra_runs"]]
    return cells


def _cell_steps(s: dict, init_norm: float, lr: float) -> int:
    for e in s["extra_runs"]:
        if math.isclose(e["init_norm"], init_norm) and math.isclose(e["lr"], lr):
            return int(e.get("steps") or s["steps"])
    return int(s["steps"])


def run_init(ctx: Context, cell: dict):
    s = ctx.settings
    norm, lr = float(cell["init_norm"]), float(cell["lr"])
    steps = _cell_steps(s, norm, lr)
    trials = list(range(s["trials"]))
    ranks = list(s["init_ranks"])
    A, b, X, data_seeds = sensing_batch(ctx, s, trials)
    A, b, X = repeat_data(A, b, X, s["shared_data"], len(ranks))
    # Batch order: rank-major, trial-minor. An initialization depends on (trial, rank) only, and
    # the norm merely scales it, so the panels of different norms start from the same directions.
    runs, U0 = [], []
    for r in ranks:
        for t in trials:
            seed = ctx.trial_seed(f"{problem_cell(s)}_init_rank~{r}", t)
            U0.append(random_factor(s["n"], r, norm, numpy_rng(seed)))
            runs.append((r, t, seed, data_seeds[t]))
    U0 = torch.from_numpy(np.stack(U0)).to(device=ctx.device, dtype=ctx.dtype)
    res = sensing_descent(
        A,
        b,
        X,
        U0,
        lr,
        steps,
        sync_every=s["record_every"],
        desc=ctx.label(f"norm={short_number(norm)} lr={short_number(lr)}"),
    )
    train, test = _final(res.train_error), _final(res.test_error)
    diverged = res.diverged.cpu().numpy()
    diverged_at = res.diverged_at.cpu().numpy()
    marks = curve_marks(res.steps_run, s["record_every"])
    tr_all = res.train_error.cpu().numpy()
    te_all = res.test_error.cpu().numpy()
    rows, frames = [], []
    for i, (r, t, seed, dseed) in enumerate(runs):
        rows.append(
            {
                "method": "gd",
                "cell": cell_id({"init_norm": norm, "lr": lr}),
                "trial": t,
                "seed": seed,
                "data_seed": dseed,
                "n": s["n"],
                "rank": s["rank"],
                "m": measurements(s),
                "init_norm": norm,
                "init_rank": r,
                "lr": lr,
                "steps": steps,
                "steps_run": res.steps_run,
                "train_error": train[i],
                "test_error": test[i],
                "diverged": bool(diverged[i]),
                "diverged_at": int(diverged_at[i]),
            }
        )
        keep = marks[np.isfinite(tr_all[marks, i])]
        frames.append(
            pd.DataFrame(
                {
                    "method": "gd",
                    "init_norm": norm,
                    "init_rank": r,
                    "lr": lr,
                    "trial": t,
                    "iteration": keep,
                    "train_error": tr_all[keep, i],
                    "test_error": te_all[keep, i],
                }
            )
        )
    return tidy(rows), pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# sensing_restart: Fig. 5
# ---------------------------------------------------------------------------------------


def method_cells(s: dict) -> list[dict]:
    """One job per method."""
    return [{"method": m} for m in s["methods"]]


def run_restart(ctx: Context, cell: dict):
    s = ctx.settings
    method = cell["method"]
    trials = list(range(s["trials"]))
    A, b, X, data_seeds = sensing_batch(ctx, s, trials)
    seeds, U0, restart_rngs = [], [], []
    for t in trials:
        # Both methods draw U0 from the same generator: the same start, as in Fig. 5.
        seed = ctx.trial_seed(f"{problem_cell(s)}_init", t)
        init_rng, restart_rng = trial_rngs(seed, 2)
        U0.append(random_factor(s["n"], s["init_rank"], s["init_norm"], init_rng))
        restart_rngs.append(restart_rng)
        seeds.append(seed)
    U0 = torch.from_numpy(np.stack(U0)).to(device=ctx.device, dtype=ctx.dtype)
    label = ctx.label(method)
    if method == "gd":
        res = sensing_descent(A, b, X, U0, s["lr"], s["steps"], sync_every=s["window"], desc=label)
    else:
        res = restarted_descent(
            A,
            b,
            X,
            U0,
            s["lr"],
            s["steps"],
            window=s["window"],
            tau=s["tau"],
            rank0=s["init_rank"],
            norm0=s["init_norm"],
            rank_step=s["rank_step"],
            factor=s["factor"],
            min_rank=s["min_rank"],
            draw=lambda i, rank, norm: random_factor(s["n"], rank, norm, restart_rngs[i]),
            desc=label,
        )
    train, test = _final(res.train_error), _final(res.test_error)
    tr_all, te_all = res.train_error.cpu().numpy(), res.test_error.cpu().numpy()
    diverged = res.diverged.cpu().numpy()
    # The test error of U = 0, ||X||_F^2: the level a run that fits nothing sits at.
    at_zero = (X * X).sum(dim=(-2, -1)).expand(len(trials)).cpu().numpy()
    params = {
        "n": s["n"],
        "rank": s["rank"],
        "m": measurements(s),
        "init_norm": s["init_norm"],
        "init_rank": s["init_rank"],
        "lr": s["lr"],
        "steps": s["steps"],
        "window": s["window"],
        "tau": s["tau"],
        "rank_step": s["rank_step"],
        "factor": s["factor"],
        "min_rank": s["min_rank"],
    }
    rows, frames = [], []
    for i, t in enumerate(trials):
        events = res.restarts[i]
        last_rank = events[-1][1] if events else s["init_rank"]
        last_norm = events[-1][2] if events else s["init_norm"]
        rows.append(
            {
                "method": method,
                "cell": cell_id({"method": method}),
                "trial": t,
                "seed": seeds[i],
                "data_seed": data_seeds[i],
                **params,
                "steps_run": res.steps_run,
                "train_error": train[i],
                "test_error": test[i],
                "test_error_at_zero": at_zero[i],
                "test_error_min": float(np.nanmin(te_all[:, i])) if np.isfinite(te_all[:, i]).any() else float("nan"),
                "diverged": bool(diverged[i]),
                "restarts": len(events),
                "restart_iterations": " ".join(str(k) for k, _, _ in events),
                "final_init_rank": last_rank,
                "final_init_norm": last_norm,
            }
        )
        # Record both sides of each restart (the last old iterate and the fresh one), so the
        # curves show the jump where it happens.
        starts = [k for k, _, _ in events]
        marks = curve_marks(res.steps_run, s["record_every"], starts + [k - 1 for k in starts])
        marks = marks[np.isfinite(tr_all[marks, i])]
        seg = np.searchsorted(np.array(starts, dtype=int), marks, side="right")
        seg_rank = np.array([s["init_rank"]] + [r for _, r, _ in events])[seg]
        seg_norm = np.array([s["init_norm"]] + [v for _, _, v in events])[seg]
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "trial": t,
                    "iteration": marks,
                    "train_error": tr_all[marks, i],
                    "test_error": te_all[marks, i],
                    "restart": np.isin(marks, starts),
                    "init_rank": seg_rank,
                    "init_norm": seg_norm,
                }
            )
        )
    return tidy(rows), pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def _sci(value: float) -> str:
    """``1e-3`` as ``10^{-3}`` for mathtext, other values to 3 significant digits."""
    exp = math.log10(value) if value > 0 else 0.0
    if value > 0 and math.isclose(exp, round(exp), abs_tol=1e-9):
        return "1" if round(exp) == 0 else f"10^{{{int(round(exp))}}}"
    mant, e = f"{value:.2e}".split("e")
    return f"{float(mant):g}\\cdot 10^{{{int(e)}}}"


def _shown_runs(summary: pd.DataFrame, norm: float, paper_lr: float):
    """The step drawn at ``norm``: the paper's unless it diverged, then the largest stable one.

    :returns: ``(lr, note)``; ``note`` says why another step is drawn, or is empty.
    """
    at = summary[np.isclose(summary["init_norm"], norm)]
    ok = at.groupby("lr")["diverged"].any()
    ok = ok[~ok]
    paper = at[np.isclose(at["lr"], paper_lr)]
    if not paper.empty and not paper["diverged"].any():
        return paper_lr, ""
    note = ""
    if not paper.empty:
        first = paper.loc[paper["diverged"], "diverged_at"]
        note = (
            f"$\\eta={_sci(paper_lr)}$ diverged ({int(paper['diverged'].sum())}/"
            f"{len(paper)} runs, by iteration {int(first.max())})"
        )
    if ok.empty:
        return None, note
    return float(ok.index.max()), note


def _draw_init_norm(tables):
    ((sweep, tab),) = tables.items()
    s, summary, curves = tab["settings"], tab["summary"], tab["curves"]
    norms = sorted(summary["init_norm"].unique())
    fig, axes = figure(len(norms), 2, width=3.0, height=2.3, sharex="col")
    for j, norm in enumerate(norms):
        lr, note = _shown_runs(summary, norm, s["lr"])
        for row, (metric, name) in enumerate((("train_error", "training error"), ("test_error", "test error"))):
            ax = axes[row, j]
            if lr is None:
                ax.text(0.5, 0.5, "every step diverged", ha="center", transform=ax.transAxes)
                continue
            part = curves[np.isclose(curves["init_norm"], norm) & np.isclose(curves["lr"], lr)]
            for c, rank in enumerate(sorted(part["init_rank"].unique())):
                band = mean_band(part[part["init_rank"] == rank], "iteration", metric, spread=0.5)
                color = RANK_COLORS[c % len(RANK_COLORS)]
                ax.plot(band["iteration"], band["mean"], color=color, label=f"rank$(U_0)={int(rank)}$")
                for edge in ("lo", "hi"):
                    ax.plot(band["iteration"], band[edge].where(band[edge] > 0), color=color, ls=":", lw=0.9)
            ax.set_yscale("log")
            if row == 0:
                title = f"$\\|U_0\\|_F={_sci(norm)}$, $\\eta={_sci(lr)}$"
                if not np.isclose(lr, s["lr"]):
                    title += " (ours)"
                ax.set_title(title)
                if note:
                    ax.text(0.02, 0.03, note, transform=ax.transAxes, fontsize=6.5, color="0.3")
            else:
                ax.set_xlabel("iteration $k$")
            if j == 0:
                ax.set_ylabel(name)
    fig.subplots_adjust(top=0.86, hspace=0.15, wspace=0.3)
    axes[0, 0].legend(loc="center right", frameon=False)
    fig.suptitle(
        f"matrix sensing, $d={s['n']}$, rank$(X^\\natural)={s['rank']}$, "
        f"$m={measurements(s)}$: mean (solid) $\\pm$ half a std (dotted) over "
        f"{s['trials']} trials",
        fontsize=9,
    )
    return fig


def _caption_init_norm(settings):
    ((sweep, s),) = settings.items()
    extra = "; ".join(
        f"at norm {e['init_norm']:g} also step {e['lr']:g} for {e.get('steps') or s['steps']} steps (ours)"
        for e in s["extra_runs"]
    )
    return (
        f"Training error ||A(UU^T) - b||^2 (top) and test error ||UU^T - X||_F^2 (bottom) of "
        f"gradient descent against iteration, one column per initialization norm "
        f"||U0||_F in {', '.join(f'{v:g}' for v in s['init_norms'])}, one line per "
        f"initialization rank ({', '.join(str(r) for r in s['init_ranks'])}; our choice) "
        f"(sweep {sweep}; Eftekhari & Zygalakis 2021, Example 1.1, Figs. 1-3). d = {s['n']}, "
        f"planted rank {s['rank']}, trace 1, m = {measurements(s)} symmetric Gaussian "
        f"measurements, step eta = {s['lr']:g}, {s['steps']} steps (our choice); solid: mean, "
        f"dotted: mean +- half a standard deviation over {s['trials']} trials. Where the "
        f"paper's step diverges (non-finite values; recorded in the summary's `diverged` and "
        f"`diverged_at`) the column shows a stable step instead: {extra or 'none configured'}."
    )


def _draw_schedule(ax, part) -> None:
    """The restarts of one run: the rank (left axis) and Frobenius norm (right, log) of the
    initialization each segment started from, as step functions; triangles at the restarts."""
    its = part["iteration"].to_numpy()
    ax.step(its, part["init_rank"], where="post", color="k", lw=1.0, label="rank of the restart")
    ev = part[part["restart"].astype(bool)]
    ax.scatter(ev["iteration"], ev["init_rank"], s=10, marker="v", zorder=3, color="k")
    ax.set_ylabel("rank of $U$ at restart")
    ax.set_ylim(0, part["init_rank"].max() * 1.1)
    twin = ax.twinx()
    twin.step(its, part["init_norm"], where="post", color="#9467bd", lw=1.0, ls="--", label="norm of the restart")
    twin.set_yscale("log")
    twin.set_ylabel("$\\|U\\|_F$ at restart", color="#9467bd")
    twin.tick_params(axis="y", colors="#9467bd")
    twin.grid(False)


def _draw_restarts(tables):
    ((sweep, tab),) = tables.items()
    s, summary, curves = tab["settings"], tab["summary"], tab["curves"]
    trials = sorted(curves["trial"].unique())
    fig, axes = figure(3, len(trials), width=3.3, height=2.3, sharex=True)
    for i, t in enumerate(trials):
        for col, (metric, name) in enumerate((("train_error", "training error"), ("test_error", "test error"))):
            ax = axes[i, col]
            for method in ("gd", "restarted"):
                part = curves[(curves["trial"] == t) & (curves["method"] == method)]
                if part.empty:
                    continue
                ax.plot(
                    part["iteration"], part[metric], color=METHOD_COLORS[method], label=METHOD_LABELS[method], lw=1.1
                )
                if method == "restarted":
                    ev = part[part["restart"].astype(bool)]
                    ax.scatter(ev["iteration"], ev[metric], s=10, marker="v", zorder=3, color="k", label="restart")
            zero = summary.loc[summary["trial"] == t, "test_error_at_zero"]
            if metric == "test_error" and not zero.empty:
                ax.axhline(
                    float(zero.iloc[0]),
                    color="0.4",
                    ls="--",
                    lw=0.8,
                    label="$\\|X^\\natural\\|_F^2$ (test error of $U=0$)",
                )
            ax.set_yscale("log")
            ax.set_ylabel(f"{name}" + (f"\n(trial {t})" if len(trials) > 1 else ""))
        restarted = curves[(curves["trial"] == t) & (curves["method"] == "restarted")]
        if restarted.empty:
            axes[i, 2].set_visible(False)
        else:
            _draw_schedule(axes[i, 2], restarted)
    for ax in axes[-1]:
        ax.set_xlabel("iteration $k$")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.subplots_adjust(top=0.9, hspace=0.15, wspace=0.55)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="upper center",
        ncol=4,
        frameon=False,
        fontsize=7,
        bbox_to_anchor=(0.5, 0.955),
    )
    fig.suptitle(
        f"Algorithm 1 vs gradient descent from the same start: "
        f"$\\|U_0\\|_F={s['init_norm']:g}$, rank$(U_0)={s['init_rank']}$, "
        f"$\\eta={_sci(s['lr'])}$, $W={s['window']}$, "
        f"$\\tau={s['tau']:g}$, $\\Delta_{{rank}}={s['rank_step']}$, factor ${s['factor']:g}$, "
        f"$r={s['min_rank']}$",
        fontsize=9,
    )
    return fig


def _caption_restarts(settings):
    ((sweep, s),) = settings.items()
    data = "share one data set and differ in their initialization" if s["shared_data"] else "each draw their own data"
    return (
        f"Restarted gradient descent (Algorithm 1 of Eftekhari & Zygalakis 2021, Fig. 5) "
        f"against plain gradient descent from the same start (sweep {sweep}): fresh data "
        f"(d = {s['n']}, planted rank {s['rank']}, m = {measurements(s)}), ||U0||_F = "
        f"{s['init_norm']:g}, rank(U0) = {s['init_rank']}, eta = {s['lr']:g}, {s['steps']} "
        f"steps (our choice), window W = {s['window']}, threshold tau = {s['tau']:g}, rank "
        f"decrement {s['rank_step']}, norm factor {s['factor']:g}, rank floor {s['min_rank']}. "
        f"Every W steps (at k = 1 mod W, from k = W + 1), if the largest one-step ratio of "
        f"training errors in the last window is below tau, the run restarts from a fresh random "
        f"matrix of the reduced rank and norm; triangles mark the restarts, and the right column "
        f"shows the rank and Frobenius norm each restart drew (step functions); the dashed line "
        f"is ||X||_F^2, the test error of U = 0. One "
        f"row per trial ({s['trials']}); the trials "
        f"{data}."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


def _finished(summary):
    """Runs that did not diverge, with the norm and rank as plain columns."""
    return summary[~summary["diverged"].astype(bool)]


def _rank_means(summary, norm):
    part = _finished(summary)
    part = part[np.isclose(part["init_norm"], norm)]
    return part.groupby("init_rank")["test_error"].mean()


def _low_rank_always_lower(s, tables):
    part = _finished(tables["summary"])
    lines, ok = [], True
    for norm, grp in part.groupby("init_norm"):
        means = grp.groupby("init_rank")["test_error"].mean()
        lo, hi = means.loc[min(means.index)], means.loc[max(means.index)]
        ok &= bool(lo <= hi)
        lines.append(f"norm {norm:g}: rank {min(means.index)} {lo:.2g} vs rank {max(means.index)} {hi:.2g}")
    return "; ".join(lines), ok and bool(lines)


def _at_norm_one(s, tables):
    means = _rank_means(tables["summary"], 1.0)
    lo_rank, hi_rank = min(means.index), max(means.index)
    lo, hi = means.loc[lo_rank], means.loc[hi_rank]
    return (
        f"rank {lo_rank}: {lo:.2g}, rank {hi_rank}: {hi:.2g} (mean final test error)",
        bool(lo < 1e-6 and hi > 1e-4),
    )


def _large_norm(s, tables):
    summary = tables["summary"]
    big = summary[summary["init_norm"] == summary["init_norm"].max()]
    paper_step = big[np.isclose(big["lr"], s["lr"])]
    stable = _finished(big)
    means = stable.groupby("init_rank")["test_error"].mean()
    text = (
        f"paper's step diverged in {int(paper_step['diverged'].sum())}/{len(paper_step)} runs; "
        f"stable step: " + ", ".join(f"rank {r}: {v:.2g}" for r, v in means.items())
    )
    return text, bool(len(means)) and bool((means > 1e-4).all())


def _restart_beats_gd(s, tables):
    means = tables["summary"].groupby("method")["test_error"].mean()
    ratio = means["restarted"] / means["gd"]
    return f"restarted {means['restarted']:.3g} vs gd {means['gd']:.3g} (ratio {ratio:.3g})", bool(ratio <= 0.1)


def _restart_recovers(s, tables):
    summary = tables["summary"]
    part = summary[summary["method"] == "restarted"]
    final, zero = part["test_error"].mean(), part["test_error_at_zero"].mean()
    return (f"final test error {final:.3g}; U = 0 would give ||X||_F^2 = {zero:.3g}", bool(final < 0.1 * zero))


FAMILY = Family(
    kinds={
        "sensing_init": Kind(
            cells=init_cells,
            run=run_init,
            plots=("sensing_init_norm",),
            resources=fixed_resources(mem_mb=1000, runtime=30),
        ),
        "sensing_restart": Kind(
            cells=method_cells,
            run=run_restart,
            plots=("sensing_restarts",),
            resources=fixed_resources(mem_mb=1000, runtime=30),
        ),
    },
    plots={
        "sensing_init_norm": Plot(draw=_draw_init_norm, caption=_caption_init_norm, kinds=("sensing_init",)),
        "sensing_restarts": Plot(draw=_draw_restarts, caption=_caption_restarts, kinds=("sensing_restart",)),
    },
    claims={
        "sensing_init": [
            Claim(
                "low_rank_lower",
                "A low-rank initialization ends at a lower test error than a full-rank one, "
                "at every initialization norm",
                "sensing_init_norm",
                "always lower (Figs. 1-3)",
                ("quick", "paper"),
                _low_rank_always_lower,
            ),
            Claim(
                "norm_one",
                "At ||U0||_F = 1 the rank-2 start recovers X (test error < 1e-6) and the full-rank "
                "start does not (> 1e-4)",
                "sensing_init_norm",
                "Fig. 2",
                ("quick", "paper"),
                _at_norm_one,
            ),
            Claim(
                "large_norm",
                "At the largest initialization norm neither start recovers X (test error > 1e-4); "
                "the paper's step diverges there",
                "sensing_init_norm",
                "Fig. 3: no recovery",
                ("quick", "paper"),
                _large_norm,
            ),
        ],
        "sensing_restart": [
            Claim(
                "beats_gd",
                "Restarted gradient descent (Algorithm 1) reaches a much lower test error than plain "
                "gradient descent from the same start (<= 1/10)",
                "sensing_restarts",
                "considerably outperforms GD (Fig. 5)",
                ("quick", "paper"),
                _restart_beats_gd,
            ),
            Claim(
                "recovers",
                "(our check) Restarted gradient descent recovers X: final test error below a tenth of that of U = 0",
                "sensing_restarts",
                "not stated",
                ("quick", "paper"),
                _restart_recovers,
            ),
        ],
    },
)
