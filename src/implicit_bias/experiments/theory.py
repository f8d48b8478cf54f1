"""Checks of the theory of You, Zhu, Qu, Ma (2020) that neither paper runs: Theorem 1 with
commuting measurements, the weighted minimum norm of discrepant learning rates (Appendix A),
and the alpha-lambda correspondence in robust PCA (Sec. 2.3)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..grids import param_key
from ..plotting import figure, geometric_band, mean_band
from ..records import tidy
from ..rpca_runs import alpha_jobs, alpha_resources, curves_frame, dop_over_alphas, rows_at_sqrt_n, sweep_alphas
from ..scorecard import NO_DATA, Claim
from ..seeding import trial_rngs
from . import Context, Family, Kind, Plot, fixed_resources, ranks_at_most_n

# ---------------------------------------------------------------------------------------
# Theorem 1: commuting measurements
# ---------------------------------------------------------------------------------------


def _sensing_problem_key(s: dict) -> str:
    """The problem instance's parameters; every (alpha, gamma) of a trial shares its data."""
    return param_key({"n": s["n"], "m": s["m"], "rank": s["rank"], "p": s["p"]})


def _rel_distance(parts, refs) -> float:
    """Joint relative distance of ``(X, s)`` to ``(X_c, s_c)`` in the Frobenius/2-norm."""
    num = sum(float(np.sum((a - b) ** 2)) for a, b in zip(parts, refs, strict=True))
    den = sum(float(np.sum(b**2)) for b in refs)
    return math.sqrt(num / den) if den > 0 else math.sqrt(num)


def theorem1_jobs(s: dict) -> list[dict]:
    """One job: every trial, and every (alpha, gamma) pair of each, as one batch (the
    problems are small, so the time goes to per-step overhead, which one batch shares)."""
    return [{"trials": s["trials"]}]


def run_theorem1(ctx: Context, job: dict):
    import torch

    from ..convex import commuting_sensing_lp
    from ..theory import commuting_sensing_problem, sensing_dop_descent

    s = ctx.settings
    trials = range(int(job["trials"]))
    seeds = [ctx.trial_seed(_sensing_problem_key(s), trial) for trial in trials]
    insts = [
        commuting_sensing_problem(s["n"], s["m"], s["rank"], s["p"], trial_rngs(seed, 1)[0], s["outlier_std"])
        for seed in seeds
    ]
    alphas = [float(a) for a in s["alphas"]]
    gammas = [float(g) for g in s["gammas"]]
    pairs = [(a, g) for a in alphas for g in gammas]
    to = dict(device=ctx.device, dtype=ctx.dtype)
    res = sensing_dop_descent(
        torch.from_numpy(np.stack([inst.A for inst in insts])).to(**to),
        torch.from_numpy(np.stack([inst.y for inst in insts])).to(**to),
        torch.tensor([g for _, g in pairs], **to),
        torch.tensor([a for a, _ in pairs], **to),
        s["lr"],
        s["steps"],
        record_every=s["record_every"],
        desc=ctx.label(f"{len(insts)} trials x {len(pairs)} (alpha, gamma) pairs"),
    )
    X_all = res.X.cpu().double().numpy()
    S_all = res.S.cpu().double().numpy()
    curves_all = {k: v.cpu().double().numpy() for k, v in res.curves.items()}
    its = res.iterations.cpu().numpy()
    rows, frames = [], []
    for t, (trial, seed, inst) in enumerate(zip(trials, seeds, insts, strict=True)):
        # The convex program is an LP for commuting measurements (convex.commuting_sensing_lp).
        convex = {a: commuting_sensing_lp(inst.eigenvalues, inst.y, 1.0 / a) for a in alphas}
        X_convex = {a: (inst.basis * sol.x) @ inst.basis.T for a, sol in convex.items()}
        X, S = X_all[t], S_all[t]
        curves = {k: v[:, t] for k, v in curves_all.items()}
        x_norm = np.linalg.norm(inst.X)
        for k, (alpha, gamma) in enumerate(pairs):
            sol = convex[alpha]
            # The feasible point (X, y - A(X)): its objective is >= the optimum, so the gap is
            # a one-sided, sign-definite measure even before the residual has vanished.
            s_feasible = inst.y - np.einsum("aij,ij->a", inst.A, X[k])
            objective = float(np.trace(X[k]) + np.abs(s_feasible).sum() / alpha)
            rows.append(
                {
                    "method": "dop",
                    "job": param_key(job),
                    "trial": trial,
                    "seed": seed,
                    "n": s["n"],
                    "m": s["m"],
                    "rank": s["rank"],
                    "p": s["p"],
                    "alpha": alpha,
                    "lambda": 1.0 / alpha,
                    "gamma": gamma,
                    "steps": s["steps"],
                    "lr": s["lr"],
                    "objective": objective,
                    "objective_convex": sol.value,
                    "objective_gap": (objective - sol.value) / abs(sol.value),
                    "residual": curves["residual"][-1, k],
                    "dist_convex": _rel_distance((X[k], S[k]), (X_convex[alpha], sol.s)),
                    "rel_err_X": float(np.linalg.norm(X[k] - inst.X) / x_norm),
                    "rel_err_X_convex": float(np.linalg.norm(X_convex[alpha] - inst.X) / x_norm),
                    "convex_solved": sol.success,
                    "diverged": bool(res.diverged[t, k]),
                }
            )
            frames.append(
                pd.DataFrame(
                    {
                        "method": "dop",
                        "alpha": alpha,
                        "gamma": gamma,
                        "trial": trial,
                        "iteration": its,
                        "residual": curves["residual"][:, k],
                        "objective_gap": (curves["objective_feasible"][:, k] - sol.value) / abs(sol.value),
                    }
                )
            )
    return tidy(rows), pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# Weighted minimum norm (Appendix A)
# ---------------------------------------------------------------------------------------


def problem_size_jobs(s: dict) -> list[dict]:
    """One job: every ratio and trial as one batch."""
    return [{"rows": s["rows"], "dim": s["dim"]}]


def weighted_checks(s: dict) -> list[tuple[str, str]]:
    """The least-squares problem is underdetermined (more unknowns than equations).

    :param s: the sweep's settings.
    :returns: ``(key, problem)`` pairs.
    """
    if s["dim"] > s["rows"]:
        return []
    return [("dim", f"{s['dim']} unknowns for {s['rows']} rows is not underdetermined (allowed: dim > rows)")]


def run_weighted(ctx: Context, job: dict):
    import torch

    from ..theory import preconditioned_descent, weighted_min_norm

    s = ctx.settings
    rows_, dim = s["rows"], s["dim"]
    ratios = [float(r) for r in s["weight_ratios"]]
    trials = range(s["trials"])
    Ws, bs, us, seeds = [], [], [], []
    for t in trials:
        seed = ctx.trial_seed(param_key({"rows": rows_, "dim": dim}), t)
        problem_rng, weight_rng = trial_rngs(seed, 2)
        Ws.append(problem_rng.standard_normal((rows_, dim)))
        bs.append(problem_rng.standard_normal(rows_))
        # One draw per trial, shared by every ratio: Lambda = ratio^(u - 1/2) spans
        # [ratio^-1/2, ratio^1/2], and ratio 1 is plain gradient descent.
        us.append(weight_rng.uniform(0.0, 1.0, dim))
        seeds.append(seed)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    R, T = len(ratios), len(trials)
    W = torch.from_numpy(np.stack(Ws)).to(**to).repeat(R, 1, 1)
    b = torch.from_numpy(np.stack(bs)).to(**to).repeat(R, 1)
    u = torch.from_numpy(np.stack(us)).to(**to).repeat(R, 1)
    ratio = torch.tensor(ratios, **to).repeat_interleave(T).unsqueeze(-1)
    weights = ratio ** (u - 0.5)
    closed_form = weighted_min_norm(W, b, weights)
    min_norm = (torch.linalg.pinv(W) @ b.unsqueeze(-1)).squeeze(-1)
    res = preconditioned_descent(
        W,
        b,
        weights,
        s["step"],
        s["steps"],
        record_every=s["record_every"],
        references={"closed_form": closed_form, "min_norm": min_norm},
        desc=ctx.label(f"{R} ratios x {T} trials"),
    )
    last = {k: v[-1].cpu().numpy() for k, v in res.curves.items()}
    lr = res.lr.cpu().numpy()
    rows, frames = [], []
    its = res.iterations.cpu().numpy()
    for i in range(R * T):
        r, t = ratios[i // T], trials[i % T]
        weighted_vs_plain = float(
            torch.linalg.vector_norm(closed_form[i] - min_norm[i]) / torch.linalg.vector_norm(min_norm[i])
        )
        rows.append(
            {
                "method": "gd",
                "job": f"rows~{rows_}_dim~{dim}",
                "trial": t,
                "seed": seeds[i % T],
                "rows": rows_,
                "dim": dim,
                "weight_ratio": r,
                "steps": s["steps"],
                "step": s["step"],
                "lr": lr[i],
                "dist_closed_form": last["dist_closed_form"][i],
                "dist_min_norm": last["dist_min_norm"][i],
                "closed_form_vs_min_norm": weighted_vs_plain,
                "residual": last["residual"][i],
                "diverged": bool(res.diverged[i]),
            }
        )
        frames.append(
            pd.DataFrame(
                {
                    "method": "gd",
                    "weight_ratio": r,
                    "trial": t,
                    "iteration": its,
                    **{k: v[:, i].cpu().numpy() for k, v in res.curves.items()},
                }
            )
        )
    return tidy(rows), pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# alpha-lambda correspondence in robust PCA
# ---------------------------------------------------------------------------------------


def run_alpha_lambda(ctx: Context, job: dict):
    import torch

    from ..convex import psd_pcp
    from ..rpca import relative_error

    s = ctx.settings
    alphas = sweep_alphas(s)
    trials = list(range(s["trials"]))
    # Every trial's problem at every alpha, as one batch (alpha-major).
    X, S, seeds, res = dop_over_alphas(ctx, s, alphas, trials)
    pairs = [(a, t) for a in alphas for t in trials]
    # The convex program at lambda = 1/alpha for every element at once, to a certified optimum.
    Y = (X + S).cpu().double()
    sols = psd_pcp(Y, torch.tensor([1.0 / a for a, _ in pairs], dtype=torch.float64), tol=s["convex_tol"])
    Y, X_true, S_true = Y.numpy(), X.cpu().double().numpy(), S.cpu().double().numpy()
    X_dop, S_dop, X_cvx = res.X.cpu().double().numpy(), res.S.cpu().double().numpy(), sols.X.numpy()
    err_x = relative_error(res.X, X).cpu().numpy()
    err_s = relative_error(res.S, S).cpu().numpy()
    fixed = {
        "n": s["n"],
        "rank": s["rank"],
        "p": s["p"],
        "steps": s["steps"],
        "lr": s["lr"],
        "init_scale": s["init_scale"],
    }
    rows, frames = [], []
    for k, (alpha, t) in enumerate(pairs):
        x_norm, s_norm = np.linalg.norm(X_true[k]), np.linalg.norm(S_true[k])
        objective = float(np.trace(X_dop[k]) + np.abs(Y[k] - X_dop[k]).sum() / alpha)
        convex_value = float(sols.primal[k])
        rows.append(
            {
                "method": "dop",
                "job": param_key(job),
                "trial": t,
                "seed": seeds[k],
                **fixed,
                "alpha": alpha,
                "lambda": 1.0 / alpha,
                # Both distances over the planted matrices' norms, as Fig. 2a's errors: the convex
                # X is 0 at large alpha, so its own norm is no scale.
                "rel_dist": float(np.linalg.norm(X_dop[k] - X_cvx[k]) / x_norm),
                "rel_dist_S": float(np.linalg.norm(S_dop[k] - (Y[k] - X_cvx[k])) / s_norm),
                "objective": objective,
                "objective_convex": convex_value,
                "objective_gap": (objective - convex_value) / abs(convex_value),
                "rel_err_X": err_x[k],
                "rel_err_S": err_s[k],
                "rel_err_X_convex": float(np.linalg.norm(X_cvx[k] - X_true[k]) / x_norm),
                "rel_err_S_convex": float(np.linalg.norm((Y[k] - X_cvx[k]) - S_true[k]) / s_norm),
                "convex_gap": float(sols.gap[k]),
                "convex_certified": bool(sols.certified[k]),
                "diverged": bool(res.diverged[k]),
            }
        )
        frames.append(curves_frame(res.select(k), {"method": "dop", "alpha": alpha}, [t]))
    return tidy(rows), pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

_ALPHA_COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def _draw_theorem1(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"]
    fig, axes = figure(3, 1, width=3.0, height=2.6)
    panels = (
        ("objective_gap", "relative objective gap"),
        ("dist_convex", "rel. distance to convex solution"),
        ("residual", "constraint residual $\\|r\\|/\\|y\\|$"),
    )
    floor = 1e-16
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        for i, alpha in enumerate(sorted(summary["alpha"].unique())):
            part = summary[summary["alpha"] == alpha].assign(
                **{metric: summary.loc[summary["alpha"] == alpha, metric].clip(lower=floor)}
            )
            band = geometric_band(part, "gamma", metric)
            color = _ALPHA_COLORS[i % len(_ALPHA_COLORS)]
            ax.plot(
                band["gamma"],
                band["mean"],
                marker="o",
                ms=3,
                color=color,
                label=f"$\\alpha={alpha:g}$ ($\\lambda={1 / alpha:.3g}$)",
            )
            ax.fill_between(band["gamma"], band["lo"], band["hi"], color=color, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("initial scale $\\gamma$")
        ax.set_ylabel(label)
    axes[0, 0].axhline(1e-2, color="0.4", ls=":", lw=1)
    axes[0, 0].legend(frameon=False, loc="lower left", fontsize=7)
    fig.suptitle(
        f"Theorem 1, commuting $A_i$: DOP from $U_0=\\gamma I$ vs. "
        f"$\\min \\|X\\|_* + \\alpha^{{-1}}\\|s\\|_1$ (n={s['n']}, m={s['m']}, r={s['rank']}, "
        f"p={s['p']}, {s['steps']} steps of $\\tau$={s['lr']:g})",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _caption_theorem1(settings):
    ((sweep, s),) = settings.items()
    return (
        f"Theorem 1 of You et al. (2020) checked with commuting measurements (sweep {sweep}): "
        f"A_i = V diag(d_i) V^T with one random orthonormal V, d_i ~ N(0, I), n = {s['n']}, "
        f"m = {s['m']} measurements, planted PSD rank {s['rank']} and {s['p']:g} m "
        f"corruptions of size +-{s['outlier_std']:g}. DOP gradient descent from U0 = gamma I, "
        f"g0 = h0 = gamma 1, step tau = {s['lr']:g} for U and alpha tau for g, h, "
        f"{s['steps']} steps; compared with the convex program min ||X||_* + (1/alpha)||s||_1 "
        f"s.t. A(X) + s = y, X PSD (exactly, as the linear program it is for commuting A_i). "
        f"Left: relative objective gap of the "
        f"feasible point (X, y - A(X)); middle: relative distance of (X, s) to the convex "
        f"solution; right: relative constraint residual of DOP. Geometric mean and one-sigma "
        f"band over {s['trials']} trials; the dotted line marks 1e-2."
    )


def _draw_weighted(tables):
    ((sweep, tab),) = tables.items()
    s, curves = tab["settings"], tab["curves"]
    fig, axes = figure(1, 1, width=4.2, height=2.9)
    ax = axes[0, 0]
    for i, ratio in enumerate(sorted(curves["weight_ratio"].unique())):
        part = curves[curves["weight_ratio"] == ratio]
        color = _ALPHA_COLORS[i % len(_ALPHA_COLORS)]
        name = "plain $\\Lambda=I$" if ratio == 1 else f"$\\kappa(\\Lambda)={ratio:g}$"
        for metric, ls, what in (
            ("dist_closed_form", "-", "to $\\Lambda W^T(W\\Lambda W^T)^{-1}b$"),
            ("dist_min_norm", "--", "to $W^+ b$"),
        ):
            band = geometric_band(part.assign(**{metric: part[metric].clip(lower=1e-16)}), "iteration", metric)
            ax.plot(band["iteration"], band["mean"], color=color, ls=ls, label=f"{name}, {what}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative distance")
    ax.set_title(f"GD with per-coordinate rates $\\Lambda$, W: {s['rows']}$\\times${s['dim']}")
    ax.legend(frameon=False, fontsize=6.5, loc="center right")
    return fig


def _caption_weighted(settings):
    ((sweep, s),) = settings.items()
    return (
        f"Implicit bias of per-coordinate learning rates (You et al. 2020, Appendix A, eqs. "
        f"18-19; sweep {sweep}): gradient descent theta <- theta - tau Lambda W^T (W theta - b) "
        f"from zero on an underdetermined least-squares problem (W {s['rows']} x {s['dim']}, "
        f"Gaussian), with Lambda = kappa^(u - 1/2), u uniform on [0, 1] per coordinate, "
        f"kappa in {list(s['weight_ratios'])} (kappa = 1 is plain gradient descent); step "
        f"tau = {s['step']:g} / lambda_max(W Lambda W^T), {s['steps']} steps. Solid: relative "
        f"distance to the weighted minimum-norm interpolant Lambda W^T (W Lambda W^T)^-1 b; "
        f"dashed: to the plain minimum-norm interpolant W^+ b. Geometric mean over "
        f"{s['trials']} trials."
    )


def _draw_alpha_lambda(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"]
    fig, axes = figure(2, 1, width=3.5, height=2.8, gridspec_kw={"wspace": 0.35})
    root = math.sqrt(s["n"])
    # Left: how far DOP lands from the convex solution, every trial and the geometric mean.
    ax = axes[0, 0]
    ax.scatter(summary["alpha"], summary["rel_dist"].clip(lower=1e-16), s=8, color="#9467bd", alpha=0.4, lw=0)
    band = geometric_band(summary.assign(rel_dist=summary["rel_dist"].clip(lower=1e-16)), "alpha", "rel_dist")
    ax.plot(band["alpha"], band["mean"], marker="o", ms=3.5, color="#9467bd", label="geometric mean")
    ax.axhline(0.1, color="0.4", ls=":", lw=1, label="0.1")
    ax.axvline(root, color="0.3", ls="--", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="learning-rate ratio $\\alpha$ ($\\lambda = 1/\\alpha$)")
    ax.set_ylabel("$\\|X_{DOP} - X_{cvx}\\|_F \\,/\\, \\|X_*\\|_F$")
    ax.set_title("DOP against the convex solution")
    ax.legend(frameon=False, fontsize=7, loc="best")
    # Right: both against the planted matrix, on a linear axis (the convex error is exactly 0
    # where the program recovers X*, which a log axis would stretch over ten decades).
    ax = axes[0, 1]
    for metric, label, ls, marker, color in (
        ("rel_err_X", "DOP (Fig. 2a)", "-", "s", "#d62728"),
        ("rel_err_X_convex", "convex, $\\lambda = 1/\\alpha$", ":", "^", "#1f77b4"),
    ):
        band = mean_band(summary, "alpha", metric)
        ax.plot(band["alpha"], band["mean"], ls=ls, marker=marker, ms=3.5, color=color, label=label)
        ax.fill_between(band["alpha"], band["lo"].clip(lower=0), band["hi"], color=color, alpha=0.15, lw=0)
    ax.axvline(root, color="0.3", ls="--", lw=1)
    ax.set(xscale="log", xlabel="learning-rate ratio $\\alpha$", ylabel="$\\|X - X_*\\|_F \\,/\\, \\|X_*\\|_F$")
    ax.set_ylim(bottom=0)
    ax.set_title("both against the planted $X_*$")
    ax.legend(frameon=False, fontsize=7, loc="best")
    fig.suptitle(f"robust PCA, n={s['n']}, r={s['rank']}, p={s['p']}, {s['trials']} trials", y=1.02, fontsize=9)
    return fig


def _caption_alpha_lambda(settings):
    ((sweep, s),) = settings.items()
    return (
        f"The alpha-lambda correspondence in robust PCA (sweep {sweep}): DOP (You et al. 2020, "
        f"eq. 6; {s['steps']} steps of tau = {s['lr']:g}, initialization scale "
        f"{s['init_scale']:g}) at each learning-rate ratio alpha against the solution of "
        f"min tr(X) + (1/alpha) ||Y - X||_1 s.t. X PSD (to a certified relative duality gap of "
        f"{s['convex_tol']:g}); n = {s['n']}, rank {s['rank']}, p = {s['p']}. Left: relative "
        f"distance between DOP's and the convex program's low-rank estimates, each trial (dots) and "
        f"the geometric mean over {s['trials']} trials; the dotted line marks 0.1. Right: the "
        f"relative error of each against the planted X (mean and one standard deviation). Both "
        f"over ||X*||_F; the dashed line marks alpha = sqrt(n)."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


def _gap_by_gamma(summary):
    """Geometric mean over trials of the relative objective gap, per (alpha, gamma)."""
    logs = summary.assign(_g=np.log10(summary["objective_gap"].abs().clip(lower=1e-16)))
    return 10.0 ** logs.groupby(["alpha", "gamma"])["_g"].mean()


def _gap_at(per_gamma: pd.Series, gamma: float) -> float | None:
    """The gap of one alpha at ``gamma`` (None where that alpha did not run it)."""
    at = per_gamma[np.isclose(per_gamma.index.to_numpy(dtype=float), gamma)]
    return float(at.iloc[0]) if len(at) else None


def _gaps_at(s: dict, tables, gammas: list[float]):
    """Each alpha's gap at each of ``gammas``: ``({alpha: [gap, ...]}, missing)``, where
    ``missing`` names the (alpha, gamma) pairs the table lacks."""
    gaps = _gap_by_gamma(tables["summary"])
    out, missing = {}, []
    for alpha, per in gaps.groupby(level="alpha"):
        values = [_gap_at(per.droplevel("alpha"), g) for g in gammas]
        missing += [f"alpha {alpha:g} at gamma {g:g}" for g, v in zip(gammas, values, strict=True) if v is None]
        out[alpha] = values
    return out, missing


def _theorem1_gap_falls(s, tables):
    largest, smallest = max(s["gammas"]), min(s["gammas"])
    if largest == smallest:
        return f"missing: a second gamma (the sweep ran gamma = {largest:g} only)", NO_DATA
    gaps, missing = _gaps_at(s, tables, [largest, smallest])
    if missing:
        return "missing: " + ", ".join(missing), NO_DATA
    parts = [f"alpha {alpha:g}: {hi:.2g} -> {lo:.2g}" for alpha, (hi, lo) in gaps.items()]
    # Each trial's own trend, beside the geometric means: the same problem at both gammas.
    summary = tables["summary"]
    ends = {
        g: summary[np.isclose(summary["gamma"], g)].set_index(["alpha", "trial"])["objective_gap"]
        for g in (largest, smallest)
    }
    pairs = pd.concat([ends[largest], ends[smallest]], axis=1, keys=["hi", "lo"]).dropna()
    falls = int((pairs["lo"] < pairs["hi"]).sum())
    text = f"geometric means over trials: {'; '.join(parts)}; falls in {falls} of {len(pairs)} (alpha, trial) pairs"
    return text, all(lo < hi for hi, lo in gaps.values()) and falls == len(pairs) > 0


def _theorem1_small(s, tables):
    smallest = min(s["gammas"])
    gaps, missing = _gaps_at(s, tables, [smallest])
    if missing:
        return "missing: " + ", ".join(missing), NO_DATA
    mean = float(np.max([gap for (gap,) in gaps.values()]))
    at = tables["summary"][np.isclose(tables["summary"]["gamma"], smallest)]
    # Judged on the worst trial; NaN (a failed run) stays NaN and fails.
    worst = at["objective_gap"].abs().max(skipna=False)
    where = at.loc[at["objective_gap"].abs().idxmax()] if np.isfinite(worst) else None
    text = f"at gamma = {smallest:g}, worst trial over alphas: {worst:.2g}"
    if where is not None:
        text += f" (alpha {where['alpha']:g}, trial {int(where['trial'])})"
    text += f"; largest geometric mean over trials: {mean:.2g}"
    return text, bool(worst < s["max_gap"])


def _weighted_matches(s, tables):
    summary = tables["summary"]
    worst = summary["dist_closed_form"].max(skipna=False)  # a failed run (NaN) fails the claim
    return f"max relative distance to the closed form {worst:.2g}", bool(worst < s["max_distance"])


def _weighted_differs(s, tables):
    summary = tables["summary"]
    discrepant = summary[summary["weight_ratio"] > 1]
    if discrepant.empty:
        return "missing: a weight ratio above 1 (Lambda != c I)", NO_DATA
    plain = summary[summary["weight_ratio"] == 1]
    low = discrepant["dist_min_norm"].min(skipna=False)
    text = f"min distance to the plain minimum-norm solution {low:.2g} (Lambda != c I)"
    if not plain.empty:
        text += f"; {plain['dist_min_norm'].max():.2g} for Lambda = I"
    return text, bool(low > s["min_distance"])


def _alpha_lambda_agree(s, tables):
    summary = tables["summary"]
    # A failed run (NaN) is not within any distance.
    worst = summary.assign(rel_dist=summary["rel_dist"].fillna(np.inf)).groupby("alpha")["rel_dist"].max()
    far = worst[worst >= s["max_distance"]]
    text = "largest ||X_DOP - X_convex|| / ||X*|| over trials, per alpha: " + ", ".join(
        f"{a:.3g}: {d:.2g}" for a, d in worst.items()
    )
    text += f" ({len(worst) - len(far)} of {len(worst)} alphas within {s['max_distance']:g}"
    at_root = rows_at_sqrt_n(summary, s["n"])["rel_dist"]
    if not at_root.empty:
        text += f"; at sqrt(n): {at_root.max():.2g}"
    return text + ")", far.empty


def _alphas(s: dict) -> list[float]:
    """Every alpha of a theorem-1 sweep, as a claim's need."""
    return s["alphas"]


def _gammas(s: dict) -> list[float]:
    """Every gamma of a theorem-1 sweep, as a claim's need."""
    return s["gammas"]


def _smallest_gamma(s: dict) -> tuple[float]:
    """The smallest gamma of a theorem-1 sweep, as a claim's need."""
    return (min(s["gammas"]),)


def _weight_ratios(s: dict) -> list[float]:
    """Every rate spread of a weighted-min-norm sweep, as a claim's need."""
    return s["weight_ratios"]


FAMILY = Family(
    kinds={
        "theory_theorem1": Kind(
            jobs=theorem1_jobs,
            run=run_theorem1,
            plots=("theory_theorem1",),
            resources=fixed_resources(mem_mb=1000, runtime=60),
            checks=ranks_at_most_n("rank"),
        ),
        "theory_weighted_min_norm": Kind(
            jobs=problem_size_jobs,
            run=run_weighted,
            plots=("theory_weighted_min_norm",),
            resources=fixed_resources(mem_mb=1000, runtime=60),
            checks=weighted_checks,
        ),
        "theory_alpha_lambda": Kind(
            jobs=alpha_jobs,
            run=run_alpha_lambda,
            plots=("theory_alpha_lambda",),
            resources=alpha_resources,
            checks=ranks_at_most_n("rank"),
        ),
    },
    plots={
        "theory_theorem1": Plot(draw=_draw_theorem1, caption=_caption_theorem1, kinds=("theory_theorem1",)),
        "theory_weighted_min_norm": Plot(
            draw=_draw_weighted, caption=_caption_weighted, kinds=("theory_weighted_min_norm",)
        ),
        "theory_alpha_lambda": Plot(
            draw=_draw_alpha_lambda, caption=_caption_alpha_lambda, kinds=("theory_alpha_lambda",)
        ),
    },
    claims={
        "theory_theorem1": [
            Claim(
                key="gap_falls",
                text="(our check, Theorem 1) With commuting measurements, DOP's objective gap to the "
                "convex solution at lambda = 1/alpha falls as the initialization gamma falls, for every alpha "
                "(geometric mean over trials) and in every trial",
                plot="theory_theorem1",
                paper="limit gamma -> 0 solves the convex problem",
                check=_theorem1_gap_falls,
                needs={"alpha": _alphas, "gamma": _gammas},
            ),
            Claim(
                key="gap_small",
                text="(our check, Theorem 1) At the smallest gamma the relative objective gap is below {max_gap:g} "
                "for every alpha, in every trial",
                plot="theory_theorem1",
                paper="gap -> 0",
                check=_theorem1_small,
                needs={"alpha": _alphas, "gamma": _smallest_gamma},
                limits={"max_gap": 1e-2},
            ),
        ],
        "theory_weighted_min_norm": [
            Claim(
                key="closed_form",
                text="(our check, Appendix A) Gradient descent with per-coordinate rates Lambda "
                "converges to the minimum ||Lambda^(-1/2) theta|| interpolant (relative error < {max_distance:g})",
                plot="theory_weighted_min_norm",
                paper="eqs. 18-19",
                check=_weighted_matches,
                needs={"weight_ratio": _weight_ratios},
                limits={"max_distance": 1e-6},
                sizes=("smoke", "quick", "cpu", "paper"),
            ),
            Claim(
                key="not_plain",
                text="(our check, Appendix A) With Lambda not a multiple of I the limit is measurably "
                "far from the plain minimum-norm solution (relative distance > {min_distance:g})",
                plot="theory_weighted_min_norm",
                paper="eqs. 18-19",
                check=_weighted_differs,
                needs={"weight_ratio": _weight_ratios},
                limits={"min_distance": 1e-3},
                sizes=("smoke", "quick", "cpu", "paper"),
            ),
        ],
        "theory_alpha_lambda": [
            Claim(
                key="agree_across_alpha",
                text="(our check, Sec. 2.3) In robust PCA, DOP at every alpha of the grid lands within "
                "{max_distance:g} (relative to ||X*||, in every trial) of the convex solution at lambda = 1/alpha",
                plot="theory_alpha_lambda",
                paper="alpha = 1/lambda (observation)",
                check=_alpha_lambda_agree,
                needs={"alpha": sweep_alphas},
                limits={"max_distance": 0.1},
            ),
        ],
    },
)
