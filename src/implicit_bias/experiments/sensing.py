"""Matrix-sensing experiments: initialization rank and norm (Eftekhari & Zygalakis 2021,
Figs. 1-3) and their restarted Algorithm 1 against plain gradient descent (Fig. 5)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..grids import param_key, short_number
from ..plotting import METHOD_COLORS, METHOD_LABELS, figure, mean_band
from ..records import tidy
from ..scorecard import NO_DATA, NOT_REACHED, Claim
from ..seeding import numpy_rng, trial_rngs
from . import Context, Family, Kind, Plot, fixed_resources, one_job_per, ranks_at_most_n

if TYPE_CHECKING:
    import torch

#: One colour per initialization rank in the init-norm figure (low rank warm, high rank cold).
RANK_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]


def measurements(s: dict) -> int:
    """The number of measurements: the paper's ``4 * rank * n`` unless ``m`` is set."""
    return 4 * s["rank"] * s["n"] if s["m"] is None else int(s["m"])


def problem_key(s: dict) -> str:
    """The name of the problem's parameters; runs of one sweep with this name share data."""
    return param_key({"n": s["n"], "rank": s["rank"], "m": measurements(s)})


def sensing_batch(ctx: Context, s: dict, trials):
    """The planted problems of ``trials`` on the context's device.

    With ``shared_data`` (Example 1.1: "both X and A are then fixed throughout") every trial
    sees the data of trial 0; otherwise each trial draws its own.

    :returns: ``(A, b, X, data_seeds)``; ``A`` is ``(m, n, n)`` when shared, else
        ``(T, m, n, n)``, and ``b``, ``X`` match.
    """
    import torch

    from ..sensing import sensing_problem

    job = problem_key(s)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    data_trials = [0] if s["shared_data"] else list(trials)
    insts, seeds = [], []
    for t in data_trials:
        seed = ctx.trial_seed(job, t)
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


def convergence_columns(A, b, X, res) -> tuple[np.ndarray, np.ndarray]:
    """The convergence gate's columns of a batched run (:mod:`implicit_bias.scorecard`).

    ``residual``: :func:`~implicit_bias.sensing.stationarity_residual` of the last iterate,
    the gradient's norm over ``4 ||A*(b)||_F sqrt(tr X)``, a constant of the problem (the
    gradient's bound at the planted factor's scale with nothing fitted), so that neither a
    large nor a tiny start sets the scale. ``last_change``: ``||UU^T - U'U'^T||_F /
    max(||X||_F, ||UU^T||_F)`` between the last iterate and that at 90% of the steps
    (:func:`~implicit_bias.sensing.relative_change`). NaN where the run diverged or
    stopped before the 90% point.

    :returns: ``(residual, last_change)``, ``(B,)`` each.
    """
    from ..sensing import flatten_operator, relative_change, stationarity_residual

    A_flat = flatten_operator(A)
    residual = stationarity_residual(A_flat, b, X, res.U).cpu().numpy()
    if res.U_snapshot is None:
        change = np.full(residual.shape, np.nan)
    else:
        change = relative_change(res.U @ res.U.mT, res.U_snapshot @ res.U_snapshot.mT, X).cpu().numpy()
    bad = res.diverged.cpu().numpy()
    return np.where(bad, np.nan, residual), np.where(bad, np.nan, change)


# ---------------------------------------------------------------------------------------
# sensing_init: Figs. 1-3
# ---------------------------------------------------------------------------------------


def init_jobs(s: dict) -> list[dict]:
    """One job per (initialization norm, step): the norms at the sweep's step, and the extra runs."""
    jobs = [{"init_norm": float(v), "lr": float(s["lr"])} for v in s["init_norms"]]
    jobs += [{"init_norm": float(e["init_norm"]), "lr": float(e["lr"])} for e in s["extra_runs"]]
    return jobs


def init_checks(s: dict) -> list[tuple[str, str]]:
    """The ranks are at most the matrix size, and every extra run is at one of the norms.

    :param s: the sweep's settings.
    :returns: ``(key, problem)`` pairs.
    """
    out = ranks_at_most_n("rank", "init_ranks")(s)
    for i, run in enumerate(s["extra_runs"]):
        if not any(math.isclose(run["init_norm"], v) for v in s["init_norms"]):
            out.append(
                (f"extra_runs.{i}.init_norm", f"{run['init_norm']} is not one of init_norms = {s['init_norms']}")
            )
    return out


def _job_steps(s: dict, init_norm: float, lr: float) -> int:
    for e in s["extra_runs"]:
        if math.isclose(e["init_norm"], init_norm) and math.isclose(e["lr"], lr):
            return int(e.get("steps") or s["steps"])
    return int(s["steps"])


def run_init(ctx: Context, job: dict):
    import torch

    from ..sensing import random_factor, sensing_descent

    s = ctx.settings
    norm, lr = float(job["init_norm"]), float(job["lr"])
    steps = _job_steps(s, norm, lr)
    trials = list(range(s["trials"]))
    ranks = list(s["init_ranks"])
    A, b, X, data_seeds = sensing_batch(ctx, s, trials)
    A, b, X = repeat_data(A, b, X, s["shared_data"], len(ranks))
    # Batch order: rank-major, trial-minor. An initialization depends on (trial, rank) only, and
    # the norm merely scales it, so the panels of different norms start from the same directions.
    runs, U0 = [], []
    for r in ranks:
        for t in trials:
            seed = ctx.trial_seed(f"{problem_key(s)}_init_rank~{r}", t)
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
    residual, change = convergence_columns(A, b, X, res)
    marks = curve_marks(res.steps_run, s["record_every"])
    tr_all = res.train_error.cpu().numpy()
    te_all = res.test_error.cpu().numpy()
    rows, frames = [], []
    for i, (r, t, seed, dseed) in enumerate(runs):
        rows.append(
            {
                "method": "gd",
                "job": param_key({"init_norm": norm, "lr": lr}),
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
                "residual": residual[i],
                "last_change": change[i],
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


def restart_checks(s: dict) -> list[tuple[str, str]]:
    """The ranks are at most the matrix size, and the rank floor lies between the planted
    rank and the start's rank.

    :param s: the sweep's settings.
    :returns: ``(key, problem)`` pairs.
    """
    out = ranks_at_most_n("rank", "init_rank", "min_rank")(s)
    if s["min_rank"] < s["rank"]:
        out.append(
            ("min_rank", f"{s['min_rank']} is below the planted rank {s['rank']} (Algorithm 1 needs r >= rank(X))")
        )
    if s["min_rank"] > s["init_rank"]:
        out.append(("min_rank", f"{s['min_rank']} is above init_rank = {s['init_rank']}"))
    return out


#: The ``variant`` of the runs at the sweep's own tau and W with the paper's rule (restarts
#: never stop); every other entry of the variant grid is ours.
PAPER = "paper"


def restart_variants(s: dict) -> list[dict]:
    """The settings of Algorithm 1 the ``restarted`` job runs: the sweep's own (the paper's
    rule, ``variant`` :data:`PAPER`) first, then each entry of ``variants`` (ours), the
    sweep's values filling in what an entry leaves out; an entry equal to one before it is
    run once.

    :returns: dicts with ``variant`` (a label), ``tau``, ``window``, ``stop_at_min_rank``.
    """
    paper = {"tau": float(s["tau"]), "window": int(s["window"]), "stop_at_min_rank": False}
    out = [{"variant": PAPER, **paper}]
    for entry in s.get("variants") or []:
        v = {**paper, **{k: type(paper[k])(x) for k, x in entry.items()}}
        if any(
            math.isclose(v["tau"], o["tau"])
            and (v["window"], v["stop_at_min_rank"]) == (o["window"], o["stop_at_min_rank"])
            for o in out
        ):
            continue
        parts = [f"tau~{short_number(v['tau'])}"] if not math.isclose(v["tau"], paper["tau"]) else []
        parts += [f"W~{v['window']}"] if v["window"] != paper["window"] else []
        parts += ["stop_at_r"] if v["stop_at_min_rank"] else []
        out.append({"variant": "ours_" + "_".join(parts), **v})
    return out


def _joined(values, fmt: str = "{:.4g}") -> str:
    return " ".join(fmt.format(v) for v in values)


def run_restart(ctx: Context, job: dict):
    import torch

    from ..sensing import random_factor, restarted_descent, sensing_descent

    s = ctx.settings
    method = job["method"]
    trials = list(range(s["trials"]))
    A, b, X, data_seeds = sensing_batch(ctx, s, trials)
    variants = restart_variants(s) if method == "restarted" else [restart_variants(s)[0]]
    # Batch order: variant-major, trial-minor. Every variant of a trial starts from that
    # trial's U0 and draws its restarts from a fresh copy of that trial's restart generator,
    # so the paper's rows do not depend on which variants run beside them.
    seeds, U0, restart_rngs, runs = [], [], [], []
    for v in variants:
        for t in trials:
            # Both methods draw U0 from the same generator: the same start, as in Fig. 5.
            seed = ctx.trial_seed(f"{problem_key(s)}_init", t)
            init_rng, restart_rng = trial_rngs(seed, 2)
            U0.append(random_factor(s["n"], s["init_rank"], s["init_norm"], init_rng))
            restart_rngs.append(restart_rng)
            seeds.append(seed)
            runs.append((v, t))
    U0 = torch.from_numpy(np.stack(U0)).to(device=ctx.device, dtype=ctx.dtype)
    A, b, X = repeat_data(A, b, X, s["shared_data"], len(variants))
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
            window=[v["window"] for v, _ in runs],
            tau=[v["tau"] for v, _ in runs],
            stop_at_min_rank=[v["stop_at_min_rank"] for v, _ in runs],
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
    residual, change = convergence_columns(A, b, X, res)
    # The test error of U = 0, ||X||_F^2: the level a run that fits nothing sits at.
    at_zero = (X * X).sum(dim=(-2, -1)).expand(len(runs)).cpu().numpy()
    params = {
        "n": s["n"],
        "rank": s["rank"],
        "m": measurements(s),
        "init_norm": s["init_norm"],
        "init_rank": s["init_rank"],
        "lr": s["lr"],
        "steps": s["steps"],
        "rank_step": s["rank_step"],
        "factor": s["factor"],
        "min_rank": s["min_rank"],
    }
    rows, frames = [], []
    for i, (v, t) in enumerate(runs):
        events, fired, checks = res.restarts[i], res.fired[i], res.checks[i]
        last_rank = events[-1][1] if events else s["init_rank"]
        last_norm = events[-1][2] if events else s["init_norm"]
        rows.append(
            {
                "method": method,
                "job": param_key({"method": method}),
                "variant": v["variant"],
                "trial": t,
                "seed": seeds[i],
                "data_seed": data_seeds[t],
                **params,
                "window": v["window"],
                "tau": v["tau"],
                "stop_at_min_rank": v["stop_at_min_rank"],
                "steps_run": res.steps_run,
                "train_error": train[i],
                "test_error": test[i],
                "test_error_at_zero": at_zero[i],
                "test_error_min": float(np.nanmin(te_all[:, i])) if np.isfinite(te_all[:, i]).any() else float("nan"),
                "diverged": bool(diverged[i]),
                "residual": residual[i],
                "last_change": change[i],
                "restarts": len(events),
                "restart_iterations": " ".join(str(k) for k, _, _ in events),
                # What the rule saw at each restart (parallel to restart_iterations): the fresh
                # matrix's rank and norm, the window's largest one-step ratio it compared to
                # tau, and the last iterate's training error, test error and norm ||U||_F.
                "restart_ranks": " ".join(str(e["rank"]) for e in fired),
                "restart_norms": _joined(e["norm"] for e in fired),
                "restart_ratios": _joined((e["ratio"] for e in fired), "{:.6f}"),
                "restart_train_errors": _joined(e["train_error"] for e in fired),
                "restart_test_errors": _joined(e["test_error"] for e in fired),
                "restart_iterate_norms": _joined(e["iterate_norm"] for e in fired),
                "final_init_rank": last_rank,
                "final_init_norm": last_norm,
            }
        )
        # Record both sides of each restart (the last old iterate and the fresh one), so the
        # curves show the jump where it happens, and every check (its window ratio).
        starts = [k for k, _, _ in events]
        check_its = [k for k, _ in checks]
        marks = curve_marks(res.steps_run, s["record_every"], starts + [k - 1 for k in starts] + check_its)
        marks = marks[np.isfinite(tr_all[marks, i])]
        seg = np.searchsorted(np.array(starts, dtype=int), marks, side="right")
        seg_rank = np.array([s["init_rank"]] + [r for _, r, _ in events])[seg]
        seg_norm = np.array([s["init_norm"]] + [w for _, _, w in events])[seg]
        ratio = pd.Series(dict(checks), dtype=float).reindex(marks).to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "variant": v["variant"],
                    "trial": t,
                    "iteration": marks,
                    "train_error": tr_all[marks, i],
                    "test_error": te_all[marks, i],
                    "restart": np.isin(marks, starts),
                    "init_rank": seg_rank,
                    "init_norm": seg_norm,
                    "window_ratio": ratio,
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


def _paper_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's setting: ``variant`` :data:`PAPER` (a table without the
    column, made before the variants existed, is all the paper's)."""
    if "variant" not in frame:
        return frame
    return frame[frame["variant"].isna() | (frame["variant"] == PAPER)]


def _draw_ratios(ax, curves: pd.DataFrame, s: dict, trial) -> None:
    """The window's largest one-step ratio of training errors at each restart check against
    tau: the paper's rule (the checks that fired marked) and, where it ran, the variant that
    stops at rank r after its last restart (whose descent goes on towards X, so its ratios
    near X show). A ratio above the axis is a check just after a restart."""
    part = curves[(curves["trial"] == trial) & (curves["method"] == "restarted")].dropna(subset=["window_ratio"])
    paper = part[part["variant"] == PAPER]
    stop = part[part["variant"] == "ours_stop_at_r"]
    if not stop.empty:
        starts = curves[
            (curves["trial"] == trial) & (curves["variant"] == "ours_stop_at_r") & curves["restart"].astype(bool)
        ]
        last = starts["iteration"].max() if not starts.empty else 0
        stop = stop[stop["iteration"] > last]
        ax.scatter(
            stop["iteration"],
            stop["window_ratio"],
            s=5,
            color="#2ca02c",
            label="window ratio, no restart at rank r (ours)",
        )
    ax.scatter(
        paper["iteration"],
        paper["window_ratio"],
        s=5,
        color=METHOD_COLORS["restarted"],
        label="window ratio (paper's rule)",
    )
    after = curves[(curves["trial"] == trial) & (curves["variant"] == PAPER) & curves["restart"].astype(bool)]
    fired = paper[paper["iteration"].isin(after["iteration"] - 1)]
    ax.scatter(fired["iteration"], fired["window_ratio"], s=14, marker="v", color="k", zorder=3)
    ax.axhline(s["tau"], color="0.3", ls="--", lw=0.8, label=f"$\\tau={s['tau']:g}$")
    ax.set_ylim(0.98, 1.002)
    ax.set_ylabel("window's largest\none-step ratio")


def _draw_variants(axes, summary: pd.DataFrame, curves: pd.DataFrame) -> None:
    """The bottom row: the test error of every variant of Algorithm 1 (first trial), and
    each variant's final test error per trial against that of U = 0."""
    rows = summary[summary["method"] == "restarted"]
    variants = list(dict.fromkeys(rows["variant"])) if "variant" in rows else []
    if not variants:
        for ax in axes:
            ax.set_visible(False)
        return
    trial = sorted(curves["trial"].unique())[0]
    palette = [*RANK_COLORS, "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
    colors = {v: palette[i % len(palette)] for i, v in enumerate(variants)}
    for v in variants:
        part = curves[(curves["trial"] == trial) & (curves["method"] == "restarted") & (curves["variant"] == v)]
        axes[0].plot(part["iteration"], part["test_error"], lw=1.0, color=colors[v], label=v)
    axes[0].set(yscale="log", xlabel="iteration $k$", ylabel=f"test error (trial {trial})")
    axes[0].legend(fontsize=5.5, frameon=False, loc="upper right")
    for j, v in enumerate(variants):
        vals = rows.loc[rows["variant"] == v, "test_error"]
        axes[1].scatter([j] * len(vals), vals, s=12, color=colors[v])
    zero = float(rows["test_error_at_zero"].mean())
    axes[1].axhline(zero, color="0.4", ls="--", lw=0.8)
    axes[1].set_xticks(range(len(variants)), [v.removeprefix("ours_") for v in variants], rotation=35, fontsize=6)
    axes[1].set(yscale="log", ylabel="final test error (each trial)")
    paper = _paper_rows(rows)
    for _, row in paper.iterrows():
        fired = [float(x) for x in str(row.get("restart_test_errors", "")).split() if x != "nan"]
        axes[2].plot(range(1, len(fired) + 1), fired, marker="v", ms=3, lw=0.8, label=f"trial {row['trial']}")
    axes[2].axhline(zero, color="0.4", ls="--", lw=0.8, label="$\\|X^\\natural\\|_F^2$")
    axes[2].set(yscale="log", xlabel="restart", ylabel="test error when\nthe rule fired (paper)")
    axes[2].legend(fontsize=6, frameon=False)
    axes[3].set_visible(False)


def _draw_restarts(tables):
    ((sweep, tab),) = tables.items()
    s, summary, curves = tab["settings"], tab["summary"], tab["curves"]
    if "variant" not in curves:
        curves = curves.assign(variant=PAPER, window_ratio=np.nan)
    paper = _paper_rows(curves)
    trials = sorted(curves["trial"].unique())
    fig, axes = figure(4, len(trials) + 1, width=3.3, height=2.3)
    for i, t in enumerate(trials):
        for col, (metric, name) in enumerate((("train_error", "training error"), ("test_error", "test error"))):
            ax = axes[i, col]
            for method in ("gd", "restarted"):
                part = paper[(paper["trial"] == t) & (paper["method"] == method)]
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
        restarted = paper[(paper["trial"] == t) & (paper["method"] == "restarted")]
        if restarted.empty:
            axes[i, 2].set_visible(False)
            axes[i, 3].set_visible(False)
        else:
            _draw_schedule(axes[i, 2], restarted)
            _draw_ratios(axes[i, 3], curves, s, t)
        for ax in axes[i]:
            ax.set_xlabel("iteration $k$")
    _draw_variants(axes[-1], summary, curves)
    handles = {}
    for ax in axes[:-1].flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.subplots_adjust(top=0.9, hspace=0.45, wspace=1.0)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="upper center",
        ncol=4,
        frameon=False,
        fontsize=7,
        bbox_to_anchor=(0.5, 0.96),
    )
    fig.suptitle(
        f"Algorithm 1 vs gradient descent from the same start: "
        f"$\\|U_0\\|_F={s['init_norm']:g}$, rank$(U_0)={s['init_rank']}$, "
        f"$\\eta={_sci(s['lr'])}$, $W={s['window']}$, "
        f"$\\tau={s['tau']:g}$, $\\Delta_{{rank}}={s['rank_step']}$, factor ${s['factor']:g}$, "
        f"$r={s['min_rank']}$; bottom row: variants of the rule (ours)",
        fontsize=9,
    )
    return fig


def _caption_restarts(settings):
    ((sweep, s),) = settings.items()
    data = "share one data set and differ in their initialization" if s["shared_data"] else "each draw their own data"
    variants = ", ".join(v["variant"] for v in restart_variants(s)[1:]) or "none"
    return (
        f"Restarted gradient descent (Algorithm 1 of Eftekhari & Zygalakis 2021, Fig. 5) "
        f"against plain gradient descent from the same start (sweep {sweep}): fresh data "
        f"(d = {s['n']}, planted rank {s['rank']}, m = {measurements(s)}), ||U0||_F = "
        f"{s['init_norm']:g}, rank(U0) = {s['init_rank']}, eta = {s['lr']:g}, {s['steps']} "
        f"steps (our choice), window W = {s['window']}, threshold tau = {s['tau']:g}, rank "
        f"decrement {s['rank_step']}, norm factor {s['factor']:g}, rank floor {s['min_rank']}. "
        f"Every W steps (at k = 1 mod W, from k = W + 1), if the largest one-step ratio of "
        f"training errors in the last window is below tau, the run restarts from a fresh random "
        f"matrix of the reduced rank and norm; triangles mark the restarts, the third column "
        f"shows the rank and Frobenius norm each restart drew (step functions), and the fourth "
        f"the window's largest ratio at every check against tau (dashed; triangles: the checks "
        f"that fired; green: our variant that stops restarting at rank r, whose ratios near X "
        f"show); the dashed line in the test-error panels is ||X||_F^2, the test error of U = 0. "
        f"One row per trial ({s['trials']}); the trials {data}. Bottom row (ours, not the "
        f"paper's): the variants of the rule run from the same starts ({variants}): their test "
        f"error (first trial), their final test error per trial against ||X||_F^2, and the "
        f"test error at which each restart of the paper's rule fired."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


#: A final test error below this counts as recovering X (ours).
RECOVERED = 1e-6
#: A final test error above this counts as not recovering X (ours).
NOT_RECOVERED = 1e-4
#: The initialization norm of Fig. 2, where the rank of the start decides recovery.
NORM_ONE = 1.0


def _no_data(lacking: list[str]) -> tuple[str, str]:
    """The row of a claim whose sweep lacks what it compares, naming what is missing."""
    return "missing: " + ", ".join(lacking), NO_DATA


def _finished(summary: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not diverge."""
    if "diverged" not in summary:
        return summary
    return summary[~summary["diverged"].astype(bool)]


def _extreme_ranks(s: dict) -> tuple[int, int]:
    """The lowest and highest initialization rank of the sweep: the two starts the claims compare."""
    return min(s["init_ranks"]), max(s["init_ranks"])


def _rank_means(s: dict, summary: pd.DataFrame, norm: float) -> tuple[pd.Series, list[str]]:
    """Mean final test error per initialization rank at ``norm``, over the runs that did not diverge.

    :param s: the sweep's settings.
    :param summary: the sweep's summary table.
    :param norm: the initialization norm.
    :returns: the means, indexed by rank, and what the comparison of the lowest and highest
        rank lacks (a second rank, a finished run of either), as phrases.
    """
    lo, hi = _extreme_ranks(s)
    if lo == hi:
        return pd.Series(dtype=float), [f"a second initialization rank (the sweep has rank {lo} only)"]
    part = _finished(summary)
    means = part[np.isclose(part["init_norm"], norm)].groupby("init_rank")["test_error"].mean()
    lacking = [f"a run at norm {norm:g}, rank {r} that did not diverge" for r in (lo, hi) if r not in means.index]
    return means, lacking


def _low_rank_always_lower(s: dict, tables: dict) -> tuple[str, bool | str]:
    """The lowest-rank start ends below the highest-rank one at every norm of the sweep."""
    lo, hi = _extreme_ranks(s)
    lines, lacking, ok = [], [], True
    for norm in sorted(s["init_norms"]):
        means, missing = _rank_means(s, tables["summary"], norm)
        lacking += [m for m in missing if m not in lacking]
        if not missing:
            ok &= bool(means[lo] <= means[hi])
            lines.append(f"norm {norm:g}: rank {lo} {means[lo]:.2g} vs rank {hi} {means[hi]:.2g}")
    if lacking:
        return _no_data(lacking)
    return "; ".join(lines), ok


def _at_norm_one(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At norm one the lowest-rank start recovers X and the highest-rank one does not."""
    means, lacking = _rank_means(s, tables["summary"], s["at_norm"])
    if lacking:
        return _no_data(lacking)
    lo_rank, hi_rank = _extreme_ranks(s)
    lo, hi = means[lo_rank], means[hi_rank]
    return (
        f"rank {lo_rank}: {lo:.2g}, rank {hi_rank}: {hi:.2g} (mean final test error)",
        bool(lo < s["recovered"] and hi > s["not_recovered"]),
    )


def _large_norm(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At the largest norm no start recovers X; the paper's step is reported, a stable one judged."""
    summary = tables["summary"]
    norm = max(s["init_norms"])
    means, lacking = _rank_means(s, summary, norm)
    if lacking:
        return _no_data(lacking)
    big = summary[np.isclose(summary["init_norm"], norm)]
    paper_step = big[np.isclose(big["lr"], s["lr"])]
    text = (
        f"paper's step diverged in {int(paper_step['diverged'].sum())}/{len(paper_step)} runs; "
        f"stable step: " + ", ".join(f"rank {r}: {v:.2g}" for r, v in means.items())
    )
    return text, bool((means > s["not_recovered"]).all())


def _method_means(summary: pd.DataFrame, methods) -> tuple[pd.Series, list[str]]:
    """Mean final test error per method over the paper's runs that did not diverge, and the
    methods of ``methods`` without such a run, as phrases."""
    means = _paper_rows(_finished(summary)).groupby("method")["test_error"].mean()
    return means, [f"a run of {m} that did not diverge" for m in methods if m not in means.index]


def _restart_beats_gd(s: dict, tables: dict) -> tuple[str, bool | str]:
    """Algorithm 1's mean final test error is at most ``ratio`` times plain gradient descent's."""
    means, lacking = _method_means(tables["summary"], ("restarted", "gd"))
    if lacking:
        return _no_data(lacking)
    ratio = means["restarted"] / means["gd"]
    text = f"restarted {means['restarted']:.3g} vs gd {means['gd']:.3g} (ratio {ratio:.3g})"
    summary = tables["summary"]
    if "test_error_at_zero" in summary:
        # What the comparison cannot tell apart: the trivial point U = 0 against the same GD.
        zero = float(summary["test_error_at_zero"].mean())
        passes = "passes it too" if zero / means["gd"] <= s["ratio"] else "would not pass it"
        text += f"; U = 0 alone, test error ||X||_F^2 = {zero:.3g} (ratio {zero / means['gd']:.3g}), {passes}"
    return text, bool(ratio <= s["ratio"])


def _restart_recovers(s: dict, tables: dict) -> tuple[str, bool | str]:
    """Algorithm 1 ends below ``zero_fraction`` times the test error of U = 0."""
    part = _paper_rows(_finished(tables["summary"]))
    part = part[part["method"] == "restarted"]
    if part.empty:
        return _no_data(["a run of restarted that did not diverge"])
    final, zero = part["test_error"].mean(), part["test_error_at_zero"].mean()
    return (
        f"final test error {final:.3g}; U = 0 would give ||X||_F^2 = {zero:.3g}",
        bool(final < s["zero_fraction"] * zero),
    )


#: A final test error below this fraction of ||X||_F^2 (that of U = 0) counts as recovering
#: X in the variant claims (ours): a relative Frobenius error of 1%.
RECOVERED_FRACTION = 1e-4
#: A restart that fires with the test error above this fraction of ||X||_F^2 fires before the
#: iterate is near X (ours; the paper-claim `recovers` uses the same fraction).
FAR_FRACTION = 0.1
#: The restart records of the summary (space-separated, one entry per restart).
RESTART_RECORDS = ("restart_iterations", "restart_ranks", "restart_norms", "restart_test_errors", "restart_ratios")


def _records(row: pd.Series, name: str) -> list[float]:
    """One restart record of a summary row as numbers (an empty record is no restart)."""
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [float(x) for x in str(value).split()]


def _restarted_paper(summary: pd.DataFrame) -> pd.DataFrame:
    part = _paper_rows(_finished(summary))
    return part[part["method"] == "restarted"]


def _fires_far_from_x(s: dict, tables: dict) -> tuple[str, bool | str]:
    """Every restart of the paper's rule fires with the test error above ``far_fraction``
    times that of U = 0; the row lists each restart (step, rank, norm, test error, ratio)."""
    summary = tables["summary"]
    lacking = [c for c in RESTART_RECORDS if c not in summary]
    if lacking:
        return _no_data([f"the restart records ({', '.join(lacking)})"])
    part = _restarted_paper(summary)
    if part.empty:
        return _no_data(["a run of restarted at the paper's setting that did not diverge"])
    lines, tests, ratios, ok = [], [], [], True
    for _, row in part.sort_values("trial").iterrows():
        rec = [_records(row, c) for c in RESTART_RECORDS]
        items = [f"{int(k)} ({int(r)}, {v:.3g}, {te:.2g}, {q:.4f})" for k, r, v, te, q in zip(*rec, strict=True)]
        lines.append(f"trial {row['trial']}: " + ("; ".join(items) or "none"))
        tests += rec[3]
        ratios += rec[4]
        ok &= all(te > s["far_fraction"] * row["test_error_at_zero"] for te in rec[3])
    if not tests:
        return "the rule never fired", NOT_REACHED
    zero = float(part["test_error_at_zero"].mean())
    head = (
        f"{len(tests)} restarts; test error when the rule fired {min(tests):.2g} to {max(tests):.2g} "
        f"(||X||_F^2 = {zero:.3g}); the window's largest ratio then {min(ratios):.4f} to {max(ratios):.4f} "
        f"(tau = {s['tau']:g}). Per restart k (rank, norm, test error, ratio) at firing: "
    )
    return head + " | ".join(lines), bool(ok)


def _variant_rows(summary: pd.DataFrame, select) -> pd.DataFrame:
    """The finished runs of Algorithm 1 that are not the paper's and that ``select`` (a
    function of a row's ``tau``, ``window``, ``stop_at_min_rank``) picks."""
    if not {"variant", "tau", "window", "stop_at_min_rank"} <= set(summary.columns):
        return summary.iloc[0:0]
    part = _finished(summary)
    part = part[(part["method"] == "restarted") & (part["variant"] != PAPER) & part["variant"].notna()]
    keep = [bool(select(r.tau, int(r.window), bool(r.stop_at_min_rank))) for r in part.itertuples()]
    return part[keep]


def _stop_rows(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """Runs of the variant that stops at rank r, at the paper's tau and W."""
    return _variant_rows(summary, lambda tau, w, stop: stop and math.isclose(tau, s["tau"]) and w == s["window"])


def _tau_window_rows(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """Runs of the paper's rule (no stop) at a smaller tau or a longer window."""
    return _variant_rows(summary, lambda tau, w, stop: not stop and (tau <= s["max_tau"] or w >= s["min_window"]))


def _relative(part: pd.DataFrame) -> pd.Series:
    return part["test_error"] / part["test_error_at_zero"]


def _finals(part: pd.DataFrame) -> str:
    """Final test error over ||X||_F^2 per variant, one number per trial."""
    return "; ".join(
        f"{v}: " + " ".join(f"{x:.2g}" for x in _relative(g.sort_values("trial")))
        for v, g in part.groupby("variant", sort=False)
    )


def _near_x_ratios(curves: pd.DataFrame, variants) -> str:
    """The window ratio at the last checks of ``variants`` (after their last restart)."""
    if "window_ratio" not in curves or "variant" not in curves:
        return ""
    part = curves[curves["variant"].isin(list(variants))].dropna(subset=["window_ratio"])
    if part.empty:
        return ""
    last = part.sort_values("iteration").groupby(["variant", "trial"]).tail(3)["window_ratio"]
    return f"; window ratio at its last 3 checks {last.min():.4f} to {last.max():.4f}"


def _stop_at_r_recovers(s: dict, tables: dict) -> tuple[str, bool | str]:
    """(ours) The variant that stops restarting at rank r recovers X in every trial."""
    summary = tables["summary"]
    part = _stop_rows(s, summary)
    if part.empty:
        return _no_data(["a run of the variant that stops restarting at rank r (stop_at_min_rank, paper's tau and W)"])
    rel = _relative(part)
    paper = _restarted_paper(summary)
    text = (
        f"final test error / ||X||_F^2 per trial: {' '.join(f'{x:.2g}' for x in rel)}"
        + (f" (paper's rule: {' '.join(f'{x:.2g}' for x in _relative(paper))})" if not paper.empty else "")
        + _near_x_ratios(tables.get("curves", pd.DataFrame()), part["variant"].unique())
        + f" (tau = {s['tau']:g})"
    )
    return text, bool((rel < s["recovered_fraction"]).all())


def _tau_window_recovers(s: dict, tables: dict) -> tuple[str, bool | str]:
    """(ours) A smaller tau or a longer W recovers X in at least one trial."""
    summary = tables["summary"]
    part = _tau_window_rows(s, summary)
    if part.empty:
        return _no_data([f"a run of a variant with tau <= {s['max_tau']:g} or W >= {s['min_window']}"])
    rel = _relative(part)
    won = int((rel < s["recovered_fraction"]).sum())
    allv = pd.concat([_restarted_paper(summary), _variant_rows(summary, lambda *a: True)])
    return (
        f"{won} of {len(part)} runs recover; final test error / ||X||_F^2 per trial: {_finals(allv)}",
        won > 0,
    )


def _gate_tau_window(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the tau/W verdict rests on: the runs that recovered (yes), else all (no)."""
    part = _tau_window_rows(s, summary)
    won = part[_relative(part) < s["recovered_fraction"]]
    return won if not won.empty else part


def _gate_paper(*methods: str):
    """The convergence gate's rows of a paper claim: the paper's runs of ``methods``."""

    def rows(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
        part = _paper_rows(summary)
        return part[part["method"].isin(methods)]

    return rows


def _gate_init(norm=None):
    """The convergence gate's rows of an init claim: the lowest and highest rank, at
    ``norm(s)`` (None: every norm)."""

    def rows(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
        part = summary[summary["init_rank"].isin(_extreme_ranks(s))]
        if norm is not None:
            part = part[np.isclose(part["init_norm"], norm(s))]
        return part

    return rows


FAMILY = Family(
    kinds={
        "sensing_init": Kind(
            jobs=init_jobs,
            run=run_init,
            plots=("sensing_init_norm",),
            resources=fixed_resources(mem_mb=1000, runtime=30),
            checks=init_checks,
        ),
        "sensing_restart": Kind(
            jobs=one_job_per(method="methods"),
            run=run_restart,
            plots=("sensing_restarts",),
            resources=fixed_resources(mem_mb=1000, runtime=30),
            checks=restart_checks,
        ),
    },
    plots={
        "sensing_init_norm": Plot(draw=_draw_init_norm, caption=_caption_init_norm, kinds=("sensing_init",)),
        "sensing_restarts": Plot(draw=_draw_restarts, caption=_caption_restarts, kinds=("sensing_restart",)),
    },
    claims={
        "sensing_init": [
            Claim(
                key="low_rank_lower",
                text="A low-rank initialization ends at a lower test error than a full-rank one, "
                "at every initialization norm",
                plot="sensing_init_norm",
                paper="always lower (Figs. 1-3)",
                check=_low_rank_always_lower,
                needs={"init_norm": lambda s: tuple(s["init_norms"]), "init_rank": _extreme_ranks},
                at_limit=_gate_init(),
            ),
            Claim(
                key="norm_one",
                text="At ||U0||_F = {at_norm:g} the lowest-rank start recovers X (test error < {recovered:.0e}) "
                "and the highest-rank start does not (> {not_recovered:.0e})",
                plot="sensing_init_norm",
                paper="Fig. 2",
                check=_at_norm_one,
                needs={"init_norm": (NORM_ONE,), "init_rank": _extreme_ranks},
                limits={"at_norm": NORM_ONE, "recovered": RECOVERED, "not_recovered": NOT_RECOVERED},
                at_limit=_gate_init(lambda s: s["at_norm"]),
            ),
            Claim(
                key="large_norm",
                text="At the largest initialization norm neither start recovers X (test error > {not_recovered:.0e}); "
                "the paper's step diverges there",
                plot="sensing_init_norm",
                paper="Fig. 3: no recovery",
                check=_large_norm,
                needs={"init_norm": lambda s: (max(s["init_norms"]),), "init_rank": _extreme_ranks},
                limits={"not_recovered": NOT_RECOVERED},
                # Gated on the stable step's runs (the paper's step's diverged ones are not
                # judged): "no recovery" from a run that has not settled says nothing.
                at_limit=_gate_init(lambda s: max(s["init_norms"])),
            ),
        ],
        "sensing_restart": [
            Claim(
                key="beats_gd",
                text="Restarted gradient descent (Algorithm 1) reaches a much lower test error than plain "
                "gradient descent from the same start (ratio <= {ratio:g})",
                plot="sensing_restarts",
                paper="considerably outperforms GD (Fig. 5)",
                check=_restart_beats_gd,
                needs={"method": ("restarted", "gd")},
                limits={"ratio": 0.1},
                at_limit=_gate_paper("restarted", "gd"),
            ),
            Claim(
                key="recovers",
                text="(our check) Restarted gradient descent recovers X: final test error below "
                "{zero_fraction:g} x that of U = 0",
                plot="sensing_restarts",
                paper="not stated",
                check=_restart_recovers,
                needs={"method": ("restarted",)},
                limits={"zero_fraction": 0.1},
                at_limit=_gate_paper("restarted"),
            ),
            Claim(
                key="ours_fires_far_from_x",
                text="(ours, a diagnosis of the paper's rule, not a claim of the paper) With the paper's "
                "tau = {tau:g} and W = {window}, every restart fires while the test error is still above "
                "{far_fraction:g} x that of U = 0, i.e. before the iterate nears X (the row lists each "
                "restart's step, rank, norm, test error and window ratio)",
                plot="sensing_restarts",
                paper="not stated (the paper restarts when the training error falls fast, reading it as no "
                "implicit bias)",
                check=_fires_far_from_x,
                needs={"method": ("restarted",)},
                limits={"far_fraction": FAR_FRACTION},
            ),
            Claim(
                key="ours_stop_at_r_recovers",
                text="(ours, a variant of Algorithm 1, not the paper's) With no restart once the rank has "
                "reached r = {min_rank} (the paper's tau and W otherwise), Algorithm 1 recovers X in every "
                "trial: final test error below {recovered_fraction:g} x that of U = 0",
                plot="sensing_restarts",
                paper="not in the paper",
                check=_stop_at_r_recovers,
                needs={"method": ("restarted",)},
                limits={"recovered_fraction": RECOVERED_FRACTION},
                at_limit=_stop_rows,
            ),
            Claim(
                key="ours_tau_window_recovers",
                text="(ours, variants of Algorithm 1, not the paper's) A smaller threshold (tau <= {max_tau:g}) "
                "or a longer window (W >= {min_window:g}), restarting as the paper does otherwise, recovers X "
                "in at least one trial: final test error below {recovered_fraction:g} x that of U = 0",
                plot="sensing_restarts",
                paper="not in the paper",
                check=_tau_window_recovers,
                needs={"method": ("restarted",)},
                limits={"max_tau": 0.995, "min_window": 1000, "recovered_fraction": RECOVERED_FRACTION},
                at_limit=_gate_tau_window,
            ),
        ],
    },
)
