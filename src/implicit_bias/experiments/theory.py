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
from ..rpca_runs import (
    alpha_jobs,
    alpha_lambda_starts,
    alpha_resources,
    rows_at_sqrt_n,
    sweep_alphas,
)
from ..scorecard import NO_DATA, NOT_REACHED, Claim
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


def _theorem1_row(s: dict, run: dict, sol, ends: tuple, problem: tuple) -> dict:
    """One summary row: DOP's endpoint against the convex solution at lambda = factor/alpha.

    :param run: ``job``, ``trial``, ``seed``, ``alpha``, ``gamma``, ``lr``, ``steps``,
        ``dynamics``, ``factor``.
    :param sol: the convex solution (:class:`~implicit_bias.convex.SensingLPResult`).
    :param ends: ``(x_end, x_snap, s_end)``: the eigenvalues of X in the shared basis at
        the end and at 90% of the steps, and s at the end.
    :param problem: ``(x_true, eig, y)``: the planted eigenvalues, the measurements'
        eigenvalues ``(m, n)`` (so A(X) = eig @ x) and the observations."""
    job, trial, seed, alpha, gamma, lr, steps, dynamics, factor = (
        run[k] for k in ("job", "trial", "seed", "alpha", "gamma", "lr", "steps", "dynamics", "factor")
    )
    x_end, x_snap, s_end = ends
    x_true, eig, y = problem
    lam = factor / alpha
    # The feasible point (X, y - A(X)): its objective is >= the optimum, so the gap is
    # a one-sided, sign-definite measure even before the residual has vanished.
    fit = eig @ x_end
    trace = float(np.sum(x_end))
    objective = trace + lam * float(np.abs(y - fit).sum())
    x_norm = float(np.linalg.norm(x_true))
    return {
        "method": "dop",
        "dynamics": dynamics,
        "job": job,
        "trial": trial,
        "seed": seed,
        "n": s["n"],
        "m": s["m"],
        "rank": s["rank"],
        "p": s["p"],
        "alpha": alpha,
        "lambda_factor": factor,
        "lambda": lam,
        "gamma": gamma,
        "steps": steps,
        "lr": lr,
        "objective": objective,
        "objective_convex": sol.value,
        "objective_gap": (objective - sol.value) / abs(sol.value),
        "residual": float(np.linalg.norm(fit + s_end - y) / np.linalg.norm(y)),
        "last_change": float(np.linalg.norm(x_end - x_snap) / x_norm),
        "dist_convex": _rel_distance((x_end, s_end), (sol.x, sol.s)),
        "rel_err_X": float(np.linalg.norm(x_end - x_true) / x_norm),
        "rel_err_X_convex": float(np.linalg.norm(sol.x - x_true) / x_norm),
        "convex_solved": sol.success,
    }


def run_theorem1(ctx: Context, job: dict):
    """The matrix dynamics at every (alpha, gamma) of the sweep, as one batch; then the
    eigenvalue dynamics (exact for commuting measurements, :func:`commuting_dop_descent`)
    at every alpha of ``alphas`` and ``scan_alphas`` from the smallest matrix gamma down to
    the smallest of ``deep_gammas``, the smallest gamma again at half the step for twice
    the steps, and the lambda = c/alpha scan of the endpoints at the smallest gamma."""
    import torch

    from ..convex import commuting_sensing_lp
    from ..theory import commuting_dop_descent, commuting_sensing_problem, sensing_dop_descent

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
    ys = torch.from_numpy(np.stack([inst.y for inst in insts])).to(**to)
    res = sensing_dop_descent(
        torch.from_numpy(np.stack([inst.A for inst in insts])).to(**to),
        ys,
        torch.tensor([g for _, g in pairs], **to),
        torch.tensor([a for a, _ in pairs], **to),
        s["lr"],
        s["steps"],
        record_every=s["record_every"],
        desc=ctx.label(f"{len(insts)} trials x {len(pairs)} (alpha, gamma) pairs"),
    )
    # The eigenvalue dynamics: every alpha, the smallest matrix gamma (to check the
    # reduction against the matrix run) and the deeper ones; then the smallest at half the step.
    all_alphas = sorted(set(alphas) | {float(a) for a in s["scan_alphas"]})
    deep = sorted({min(gammas)} | {float(g) for g in s["deep_gammas"]}, reverse=True)
    deepest = deep[-1]
    eig_pairs = [(a, g) for a in all_alphas for g in deep]
    D = torch.from_numpy(np.stack([inst.eigenvalues for inst in insts])).to(**to)
    runs = {
        "eigenvalues": (
            eig_pairs,
            s["lr"],
            s["steps"],
            commuting_dop_descent(
                D,
                ys,
                torch.tensor([g for _, g in eig_pairs], **to),
                torch.tensor([a for a, _ in eig_pairs], **to),
                s["lr"],
                s["steps"],
                record_every=s["record_every"],
                desc=ctx.label(f"eigenvalue dynamics, {len(insts)} trials x {len(eig_pairs)} pairs"),
            ),
        ),
        "eigenvalues, half step": (
            [(a, deepest) for a in all_alphas],
            s["lr"] / 2,
            2 * s["steps"],
            commuting_dop_descent(
                D,
                ys,
                torch.full((len(all_alphas),), deepest, **to),
                torch.tensor(all_alphas, **to),
                s["lr"] / 2,
                2 * s["steps"],
                record_every=2 * s["record_every"],
                desc=ctx.label(f"half step, {len(insts)} trials x {len(all_alphas)} alphas"),
            ),
        ),
    }

    def host(t):
        return t.cpu().double().numpy()

    X_all, X_snap, S_all = host(res.X), host(res.X_snapshot), host(res.S)
    curves_all = {k: host(v) for k, v in res.curves.items()}
    its = res.iterations.cpu().numpy()
    factors = sorted({1.0} | {float(c) for c in s["lambda_factors"]})
    rows, frames = [], []
    for t, (trial, seed, inst) in enumerate(zip(trials, seeds, insts, strict=True)):
        V, eig = inst.basis, inst.eigenvalues
        x_true = np.diag(V.T @ inst.X @ V)
        base = {"job": param_key(job), "trial": trial, "seed": seed}
        # The convex program is an LP for commuting measurements (convex.commuting_sensing_lp).
        convex = {(a, c): commuting_sensing_lp(eig, inst.y, c / a) for a in all_alphas for c in factors}
        curves = {k: v[:, t] for k, v in curves_all.items()}
        matrix_x = {}
        for k, (alpha, gamma) in enumerate(pairs):
            sol = convex[(alpha, 1.0)]
            # The matrix run in the shared basis: its eigenvalues carry the objective, and
            # the off-diagonal part (zero in exact arithmetic) adds to the distances.
            Xb, Xsb = V.T @ X_all[t, k] @ V, V.T @ X_snap[t, k] @ V
            x_end, off = np.diag(Xb).copy(), np.linalg.norm(Xb - np.diag(np.diag(Xb)))
            row = _theorem1_row(
                s,
                dict(base, alpha=alpha, gamma=gamma, lr=s["lr"], steps=s["steps"], dynamics="matrix", factor=1.0),
                sol,
                (x_end, np.diag(Xsb), S_all[t, k]),
                (x_true, eig, inst.y),
            )
            x_norm = np.linalg.norm(x_true)
            row["last_change"] = float(np.linalg.norm(X_all[t, k] - X_snap[t, k]) / x_norm)
            row["dist_convex"] = _rel_distance((X_all[t, k], S_all[t, k]), ((V * sol.x) @ V.T, sol.s))
            row["rel_err_X"] = float(np.linalg.norm(X_all[t, k] - inst.X) / x_norm)
            row["off_basis"] = float(off / x_norm)
            row["diverged"] = bool(res.diverged[t, k])
            rows.append(row)
            matrix_x[(alpha, gamma)] = x_end
            frames.append(
                pd.DataFrame(
                    {
                        "method": "dop",
                        "dynamics": "matrix",
                        "alpha": alpha,
                        "gamma": gamma,
                        "trial": trial,
                        "iteration": its,
                        "residual": curves["residual"][:, k],
                        "objective_gap": (curves["objective_feasible"][:, k] - sol.value) / abs(sol.value),
                    }
                )
            )
        halved = {}
        for dynamics in ("eigenvalues, half step", "eigenvalues"):
            run_pairs, lr, steps, out = runs[dynamics]
            x_all, xs_all, s_all = host(out.X[t]), host(out.X_snapshot[t]), host(out.S[t])
            for k, (alpha, gamma) in enumerate(run_pairs):
                scan = factors if (dynamics == "eigenvalues" and gamma == deepest) else [1.0]
                for c in scan:
                    row = _theorem1_row(
                        s,
                        dict(base, alpha=alpha, gamma=gamma, lr=lr, steps=steps, dynamics=dynamics, factor=c),
                        convex[(alpha, c)],
                        (x_all[k], xs_all[k], s_all[k]),
                        (x_true, eig, inst.y),
                    )
                    row["diverged"] = bool(out.diverged[t, k])
                    if c == 1.0 and (alpha, gamma) in matrix_x:
                        row["vs_matrix"] = float(
                            np.linalg.norm(x_all[k] - matrix_x[(alpha, gamma)]) / np.linalg.norm(x_true)
                        )
                    if c == 1.0 and gamma == deepest:
                        if dynamics == "eigenvalues, half step":
                            halved[alpha] = x_all[k]
                        else:
                            row["vs_half_step"] = float(
                                np.linalg.norm(x_all[k] - halved[alpha]) / np.linalg.norm(x_true)
                            )
                    # How far the convex solution itself moves with lambda (the scan's reach).
                    row["convex_vs_factor_1"] = _rel_distance(
                        (convex[(alpha, c)].x, convex[(alpha, c)].s), (convex[(alpha, 1.0)].x, convex[(alpha, 1.0)].s)
                    )
                    rows.append(row)
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


def eq19_independent(W: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """argmin ||Lambda^(-1/2) theta|| s.t. W theta = b by another route than the closed form:
    theta = Lambda^(1/2) z with z the least-norm solution of (W Lambda^(1/2)) z = b (LAPACK's
    SVD-based least squares, :func:`numpy.linalg.lstsq`)."""
    root = np.sqrt(weights)
    z = np.linalg.lstsq(W * root, b, rcond=None)[0]
    return root * z


def eq19_optimality(W: np.ndarray, theta: np.ndarray, weights: np.ndarray) -> float:
    """How far ``theta`` is from eq. 19's optimality condition: Lambda^-1 theta must lie in the
    row space of W (the Lagrange condition of min 1/2 ||Lambda^(-1/2) theta||^2 s.t.
    W theta = b). Returns the relative norm of its part outside the row space."""
    v = theta / weights
    Q = np.linalg.qr(W.T)[0]  # an orthonormal basis of the row space
    outside = v - Q @ (Q.T @ v)
    return float(np.linalg.norm(outside) / max(np.linalg.norm(v), np.finfo(float).tiny))


def run_weighted(ctx: Context, job: dict):
    """Every (start, ratio, trial) as one batch: from zero (the paper's condition) and, as the
    control, from a random start, which the theorem does not cover and whose limit must miss
    the closed form."""
    import torch

    from ..theory import preconditioned_descent, weighted_min_norm

    s = ctx.settings
    rows_, dim = s["rows"], s["dim"]
    ratios = [float(r) for r in s["weight_ratios"]]
    trials = range(s["trials"])
    starts = ["zero", "random"] if s["random_start_std"] > 0 else ["zero"]
    Ws, bs, us, th0, seeds = [], [], [], [], []
    for t in trials:
        seed = ctx.trial_seed(param_key({"rows": rows_, "dim": dim}), t)
        problem_rng, weight_rng, start_rng = trial_rngs(seed, 3)
        Ws.append(problem_rng.standard_normal((rows_, dim)))
        bs.append(problem_rng.standard_normal(rows_))
        # One draw per trial, shared by every ratio: Lambda = ratio^(u - 1/2) spans
        # [ratio^-1/2, ratio^1/2], and ratio 1 is plain gradient descent.
        us.append(weight_rng.uniform(0.0, 1.0, dim))
        th0.append(s["random_start_std"] * start_rng.standard_normal(dim))
        seeds.append(seed)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    R, T, G = len(ratios), len(trials), len(starts)
    # Batch order: start-major, then ratio, then trial.
    W = torch.from_numpy(np.stack(Ws)).to(**to).repeat(G * R, 1, 1)
    b = torch.from_numpy(np.stack(bs)).to(**to).repeat(G * R, 1)
    u = torch.from_numpy(np.stack(us)).to(**to).repeat(G * R, 1)
    ratio = torch.tensor(ratios, **to).repeat_interleave(T).repeat(G).unsqueeze(-1)
    theta0 = torch.cat([torch.from_numpy(np.stack(th0)).to(**to).repeat(R, 1) * (g == "random") for g in starts])
    weights = ratio ** (u - 0.5)
    closed_form = weighted_min_norm(W, b, weights)
    min_norm = (torch.linalg.pinv(W) @ b.unsqueeze(-1)).squeeze(-1)
    # Where eq. 18 goes from theta0: theta0 plus the weighted correction of its residual.
    predicted = theta0 + weighted_min_norm(W, b - (W @ theta0.unsqueeze(-1)).squeeze(-1), weights)
    res = preconditioned_descent(
        W,
        b,
        weights,
        s["step"],
        s["steps"],
        record_every=s["record_every"],
        references={"closed_form": closed_form, "min_norm": min_norm},
        theta0=theta0,
        desc=ctx.label(f"{G} starts x {R} ratios x {T} trials"),
    )
    last = {k: v[-1].cpu().numpy() for k, v in res.curves.items()}
    lr = res.lr.cpu().numpy()
    rows, frames = [], []
    its = res.iterations.cpu().numpy()
    theta, snap = res.theta.cpu().double().numpy(), res.theta_snapshot.cpu().double().numpy()
    for i in range(G * R * T):
        start, r, t = starts[i // (R * T)], ratios[(i // T) % R], trials[i % T]
        Wi, bi, wi = Ws[i % T], bs[i % T], weights[i].cpu().double().numpy()
        cf = closed_form[i].cpu().double().numpy()
        independent = eq19_independent(Wi, bi, wi)
        cf_norm = np.linalg.norm(cf)
        weighted_vs_plain = float(
            torch.linalg.vector_norm(closed_form[i] - min_norm[i]) / torch.linalg.vector_norm(min_norm[i])
        )
        rows.append(
            {
                "method": "gd",
                "job": f"rows~{rows_}_dim~{dim}",
                "start": start,
                "trial": t,
                "seed": seeds[i % T],
                "rows": rows_,
                "dim": dim,
                "weight_ratio": r,
                "steps": s["steps"],
                "step": s["step"],
                "lr": lr[i],
                "dist_closed_form": last["dist_closed_form"][i],
                "dist_independent": float(np.linalg.norm(theta[i] - independent) / np.linalg.norm(independent)),
                "closed_form_vs_independent": float(np.linalg.norm(cf - independent) / np.linalg.norm(independent)),
                "optimality": eq19_optimality(Wi, theta[i], wi),
                "dist_predicted": float(
                    np.linalg.norm(theta[i] - predicted[i].cpu().double().numpy()) / np.linalg.norm(theta[i])
                ),
                "dist_min_norm": last["dist_min_norm"][i],
                "closed_form_vs_min_norm": weighted_vs_plain,
                "residual": last["residual"][i],
                "last_change": float(np.linalg.norm(theta[i] - snap[i]) / cf_norm),
                "diverged": bool(res.diverged[i]),
            }
        )
        frames.append(
            pd.DataFrame(
                {
                    "method": "gd",
                    "start": start,
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

    from ..convex import nearest_lambda, pareto_dominated, pcp_terms, psd_pcp
    from ..rpca_runs import alpha_lambda_step, dop_stationary_over_alphas

    s = ctx.settings
    alphas = sweep_alphas(s)
    trials = list(range(s["trials"]))
    # Every trial's problem at every alpha and start, as one batch, each run to the gate.
    X, S, seeds, elements, out = dop_stationary_over_alphas(ctx, s, alphas, trials)
    Y = (X + S).cpu().double()
    # The convex program per trial at lambda = 1/alpha for every alpha, and along the lambda
    # grid, to a certified optimum: one batch.
    lambdas = sorted({1.0 / a for a in alphas} | set(alpha_lambda_grid(s)))
    sols = psd_pcp(
        Y.repeat_interleave(len(lambdas), dim=0),
        torch.tensor(lambdas * len(trials), dtype=torch.float64),
        tol=s["convex_tol"],
    )
    L = len(lambdas)
    Y, X_true, S_true = Y.numpy(), X.cpu().double().numpy(), S.cpu().double().numpy()
    X_cvx_all, primal, gap, certified = sols.X.numpy(), sols.primal.numpy(), sols.gap.numpy(), sols.certified.numpy()
    terms = [[pcp_terms(X_cvx_all[t * L + j], Y[t]) for j in range(L)] for t in trials]
    fixed = {"n": s["n"], "rank": s["rank"], "p": s["p"], "steps": s["steps"]}
    rows = []
    for k, (start, scale, alpha, t) in enumerate(elements):
        j = t * L + lambdas.index(1.0 / alpha)
        X_dop, S_dop, X_cvx = out["X"][k], out["S"][k], X_cvx_all[j]
        x_norm, s_norm = np.linalg.norm(X_true[t]), np.linalg.norm(S_true[t])
        trace, l1 = pcp_terms(X_dop, Y[t])
        objective = trace + l1 / alpha
        convex_value = float(primal[j])
        best, best_dist = nearest_lambda(X_dop, X_cvx_all[t * L : (t + 1) * L], np.array(lambdas))
        size_dop, size_cvx = np.linalg.norm(X_dop) / x_norm, np.linalg.norm(X_cvx) / x_norm
        trivial = bool(size_dop < s["trivial_below"] and size_cvx < s["trivial_below"])
        rows.append(
            {
                "method": "dop",
                "job": param_key(job),
                "trial": t,
                "seed": seeds[t],
                **fixed,
                "start": start,
                "init_scale": scale,
                "alpha": alpha,
                "lambda": 1.0 / alpha,
                "lr": alpha_lambda_step(s, alpha),
                "steps_run": int(out["steps_run"][k]),
                # The convergence gate (scorecard.convergence): the relative gradient norm of
                # the DOP loss and the change of X over the last 10% of the steps run.
                "residual": float(out["residual"][k]),
                "last_change": float(out["last_change"][k]),
                "fit": float(np.linalg.norm(X_dop + S_dop - Y[t]) / np.linalg.norm(Y[t])),
                # Distances over the planted matrices' norms, as Fig. 2a's errors: the convex
                # X is 0 at large alpha, so its own norm is no scale.
                "rel_dist": float(np.linalg.norm(X_dop - X_cvx) / x_norm),
                "rel_dist_S": float(np.linalg.norm(S_dop - (Y[t] - X_cvx)) / s_norm),
                "norm_X": float(size_dop),
                "norm_X_convex": float(size_cvx),
                "trivial": trivial,
                # The objective at lambda = 1/alpha of DOP's feasible point (X, Y - X).
                "objective": objective,
                "objective_convex": convex_value,
                "objective_gap": (objective - convex_value) / abs(convex_value),
                "trace": trace,
                "l1": l1,
                "dominated": pareto_dominated((trace, l1), terms[t], s["pareto_rtol"]),
                "best_lambda_alpha": best * alpha,
                # The nearest solution is the grid's smallest or largest lambda: only a bound.
                "best_at_edge": bool(np.isclose(best, lambdas[0]) or np.isclose(best, lambdas[-1])),
                "best_dist": best_dist / x_norm,
                "rel_err_X": float(np.linalg.norm(X_dop - X_true[t]) / x_norm),
                "rel_err_S": float(np.linalg.norm(S_dop - S_true[t]) / s_norm),
                "rel_err_X_convex": float(np.linalg.norm(X_cvx - X_true[t]) / x_norm),
                "rel_err_S_convex": float(np.linalg.norm((Y[t] - X_cvx) - S_true[t]) / s_norm),
                "convex_gap": float(gap[j]),
                "convex_certified": bool(certified[j]),
                # Every solve of the trial's lambda grid reached convex_tol.
                "grid_certified": bool(certified[t * L : (t + 1) * L].all()),
                "diverged": bool(out["diverged"][k]),
            }
        )
    # The curves: each run's gate where it stopped (the runs record nothing along the way).
    keep = ["method", "start", "init_scale", "alpha", "trial", "steps_run", "residual", "last_change", "fit"]
    curves = pd.DataFrame(rows)[keep].rename(columns={"steps_run": "iteration"})
    return tidy(rows), curves


def alpha_lambda_grid(s: dict) -> list[float]:
    """The lambda grid of the Pareto test and the best-fitting lambda: ``lambda_num``
    log-spaced values from 1/(2 alpha_max) to 8/alpha_min (none for 0)."""
    if not s["lambda_num"]:
        return []
    return [float(v) for v in np.geomspace(0.5 / s["alpha_max"], 8.0 / s["alpha_min"], s["lambda_num"])]


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

_ALPHA_COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def _draw_theorem1(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"]
    matrix, eig = _matrix_rows(summary), _eigen_rows(summary)
    fig, axes = figure(4, 1, width=3.0, height=2.6)
    panels = (
        ("objective_gap", "relative objective gap"),
        ("dist_convex", "rel. distance to convex solution"),
        ("residual", "constraint residual $\\|r\\|/\\|y\\|$"),
    )
    floor = 1e-16
    alphas = sorted(matrix["alpha"].unique())
    for ax, (metric, label) in zip(axes[0], panels, strict=False):
        for i, alpha in enumerate(alphas):
            color = _ALPHA_COLORS[i % len(_ALPHA_COLORS)]
            for part, ls, name in (
                (matrix[matrix["alpha"] == alpha], "-", f"$\\alpha={alpha:g}$ ($\\lambda={1 / alpha:.3g}$)"),
                (eig[eig["alpha"] == alpha], "--", None),
            ):
                if part.empty:
                    continue
                band = geometric_band(part.assign(**{metric: part[metric].abs().clip(lower=floor)}), "gamma", metric)
                ax.plot(band["gamma"], band["mean"], marker="o", ms=3, ls=ls, color=color, label=name)
                ax.fill_between(band["gamma"], band["lo"], band["hi"], color=color, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("initial scale $\\gamma$")
        ax.set_ylabel(label)
    axes[0, 0].axhline(1e-2, color="0.4", ls=":", lw=1)
    axes[0, 0].legend(frameon=False, loc="lower left", fontsize=7)
    # The lambda scan: the endpoints at the smallest gamma against lambda = c/alpha.
    ax = axes[0, 3]
    scan = _eigen_rows(summary, factor=None)
    if len(scan):
        scan = scan[_same_scale(scan["gamma"], scan["gamma"].min())]
        for i, alpha in enumerate(sorted(scan["alpha"].unique())):
            part = scan[scan["alpha"] == alpha]
            part = part.assign(objective_gap=part["objective_gap"].abs().clip(lower=floor))
            band = geometric_band(part, "lambda_factor", "objective_gap")
            ax.plot(band["lambda_factor"], band["mean"], marker="o", ms=3, color=_SCAN_COLORS(i), label=f"{alpha:g}")
        ax.axvline(1.0, color="0.3", ls="--", lw=1)
        ax.axhline(1e-2, color="0.4", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="$c$ in $\\lambda = c/\\alpha$", ylabel="relative objective gap")
        factors = sorted(scan["lambda_factor"].unique())
        ax.set_xticks(factors, [f"{c:g}" for c in factors], fontsize=7)
        ax.minorticks_off()
        ax.set_title(f"$\\gamma = {scan['gamma'].min():.0e}$ (eigenvalue dynamics)", fontsize=8)
        ax.legend(title="$\\alpha$", frameon=False, fontsize=6, title_fontsize=7, ncol=2, loc="best")
    fig.suptitle(
        f"Theorem 1, commuting $A_i$: DOP from $U_0=\\gamma I$ vs. "
        f"$\\min \\|X\\|_* + \\alpha^{{-1}}\\|s\\|_1$ (n={s['n']}, m={s['m']}, r={s['rank']}, "
        f"p={s['p']}, {s['steps']} steps of $\\tau$={s['lr']:g})",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _SCAN_COLORS(i: int):  # noqa: N802 - a colour map, read like a table
    import matplotlib

    return matplotlib.colormaps["viridis"](i / 8)


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
        f"First three panels: relative objective gap of the feasible point (X, y - A(X)), "
        f"relative distance of (X, s) to the convex solution, and relative constraint residual "
        f"of DOP, against gamma; solid: the matrix dynamics, dashed: the same dynamics in the "
        f"measurements' eigenvalues (exact for commuting A_i) down to gamma = "
        f"{min(s['deep_gammas'], default=min(s['gammas'])):g}. Right: the lambda scan, the endpoints at "
        f"the smallest gamma against the convex solution at lambda = c/alpha, for every alpha "
        f"(with scan_alphas {list(s['scan_alphas'])}); the dashed line marks c = 1. Geometric mean "
        f"and one-sigma band over {s['trials']} trials; the dotted lines mark 1e-2."
    )


def _draw_weighted(tables):
    ((sweep, tab),) = tables.items()
    s, curves = tab["settings"], tab["curves"]
    fig, axes = figure(1, 1, width=4.2, height=2.9)
    ax = axes[0, 0]
    random = _from(curves, "random")
    curves = _from(curves, "zero")
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
        control = random[random["weight_ratio"] == ratio]
        if len(control):
            band = geometric_band(control, "iteration", "dist_closed_form")
            ax.plot(band["iteration"], band["mean"], color=color, ls=":", label=f"{name}, random start, to the same")
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
        f"dashed: to the plain minimum-norm interpolant W^+ b; dotted (where random_start_std = "
        f"{s['random_start_std']:g} > 0): from a random start theta0 ~ N(0, std^2 I), to the weighted "
        f"interpolant, which it must miss. Geometric mean over {s['trials']} trials."
    )


def _draw_alpha_lambda(tables):
    ((sweep, tab),) = tables.items()
    s, summary = tab["settings"], tab["summary"]
    fig, axes = figure(3, 1, width=3.5, height=2.8, gridspec_kw={"wspace": 0.35})
    root = math.sqrt(s["n"])
    if "start" in summary:
        summary = _alpha_lambda_main(s, summary)
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
    # Third: the lambda whose convex solution is nearest DOP's endpoint, times alpha (trivial
    # runs, both X near 0, left out: every small lambda fits them).
    ax = axes[0, 2]
    if "best_lambda_alpha" in summary:
        rows = summary[~summary["trivial"].astype(bool)]
        ax.scatter(rows["alpha"], rows["best_lambda_alpha"], s=8, color="#2ca02c", alpha=0.4, lw=0)
        if not rows.empty:
            band = geometric_band(rows, "alpha", "best_lambda_alpha")
            ax.plot(band["alpha"], band["mean"], marker="o", ms=3.5, color="#2ca02c", label="geometric mean")
    ax.axhline(1.0, color="0.4", ls=":", lw=1, label="$\\lambda = 1/\\alpha$")
    ax.axvline(root, color="0.3", ls="--", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="learning-rate ratio $\\alpha$",
        ylabel="best-fitting $\\lambda \\cdot \\alpha$",
    )
    ax.set_title("nearest convex solution")
    ax.legend(frameon=False, fontsize=7, loc="best")
    fig.suptitle(f"robust PCA, n={s['n']}, r={s['rank']}, p={s['p']}, {s['trials']} trials", y=1.02, fontsize=9)
    return fig


def _caption_alpha_lambda(settings):
    ((sweep, s),) = settings.items()
    return (
        f"The alpha-lambda correspondence in robust PCA (sweep {sweep}): DOP (You et al. 2020, "
        f"eq. 6; run to the convergence gate or {s['steps']} steps of tau = min({s['lr']:g}, "
        f"{s['max_gh_step']:g}/alpha), initialization scale {s['init_scale']:g}) at each "
        f"learning-rate ratio alpha against the solution of "
        f"min tr(X) + (1/alpha) ||Y - X||_1 s.t. X PSD (to a certified relative duality gap of "
        f"{s['convex_tol']:g}); n = {s['n']}, rank {s['rank']}, p = {s['p']}. Left: relative "
        f"distance between DOP's and the convex program's low-rank estimates, each trial (dots) and "
        f"the geometric mean over {s['trials']} trials; the dotted line marks 0.1. Middle: the "
        f"relative error of each against the planted X (mean and one standard deviation). Third: the "
        f"lambda (of a grid of {s['lambda_num']}, refined) whose convex solution is nearest DOP's endpoint, "
        f"times alpha; the dotted line is lambda = 1/alpha; runs where both X are near 0 are left out. "
        f"Distances over ||X*||_F; the dashed line marks alpha = sqrt(n). A = identity (robust PCA) is "
        f"outside Theorem 1's commuting assumption: Sec. 2.3's observation, not the theorem."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


def _same_scale(values, scale) -> np.ndarray:
    """Equal to rounding, relative only: initial scales span 1e-1 to 1e-12, where
    :func:`numpy.isclose`'s absolute tolerance would call 1e-9 and 1e-12 equal."""
    return np.isclose(np.asarray(values, dtype=float), scale, rtol=1e-9, atol=0.0)


def _matrix_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The matrix runs at lambda = 1/alpha (tables written before the eigenvalue dynamics and
    the lambda scan existed have only these)."""
    if "dynamics" in summary:
        summary = summary[summary["dynamics"].fillna("matrix") == "matrix"]
    if "lambda_factor" in summary:
        summary = summary[np.isclose(summary["lambda_factor"].fillna(1.0), 1.0)]
    return summary


def _eigen_rows(summary: pd.DataFrame, dynamics: str = "eigenvalues", factor: float | None = 1.0) -> pd.DataFrame:
    """The eigenvalue-dynamics runs (at ``factor``; None for every factor of the scan)."""
    if "dynamics" not in summary:
        return summary.iloc[0:0]
    rows = summary[summary["dynamics"] == dynamics]
    return rows if factor is None else rows[np.isclose(rows["lambda_factor"], factor)]


def _gate_matrix(s, summary):
    return _matrix_rows(summary)


def _gate_matrix_smallest(s, summary):
    rows = _matrix_rows(summary)
    return rows[_same_scale(rows["gamma"], min(s["gammas"]))]


def _gate_deepest(s, summary):
    rows = _eigen_rows(summary)
    return rows[_same_scale(rows["gamma"], rows["gamma"].min())] if len(rows) else rows


def _gate_deepest_both_steps(s, summary):
    rows = pd.concat([_gate_deepest(s, summary), _eigen_rows(summary, "eigenvalues, half step")])
    return rows


def _theorem1_reduction(s, tables):
    rows = _eigen_rows(tables["summary"])
    # Where both dynamics ran: the smallest matrix gamma, at the matrix runs' alphas.
    rows = rows[_same_scale(rows["gamma"], min(s["gammas"])) & rows["alpha"].isin(s["alphas"])]
    if "vs_matrix" not in rows or rows.empty:
        return "missing: eigenvalue runs at a gamma and alpha of the matrix runs", NO_DATA
    worst = rows["vs_matrix"].max(skipna=False)
    at = rows.loc[rows["vs_matrix"].idxmax()] if np.isfinite(worst) else None
    text = f"largest ||X_eig - X_matrix|| / ||X*|| over {rows['vs_matrix'].notna().sum()} runs: {worst:.2g}"
    if at is not None:
        text += f" (alpha {at['alpha']:g}, gamma {at['gamma']:g}, trial {int(at['trial'])})"
    return text, bool(worst < s["max_reduction"])


def _theorem1_deep(s, tables):
    rows = _gate_deepest(s, tables["summary"])
    if rows.empty:
        return "missing: eigenvalue runs", NO_DATA
    gamma = rows["gamma"].min()
    worst = rows.groupby("alpha")["objective_gap"].apply(lambda g: g.abs().max(skipna=False))
    text = f"at gamma = {gamma:g}, worst trial per alpha: " + ", ".join(f"{a:g}: {v:.2g}" for a, v in worst.items())
    return text, bool((worst < s["max_gap"]).all())


def _theorem1_half_step(s, tables):
    rows = _gate_deepest(s, tables["summary"])
    if "vs_half_step" not in rows or rows["vs_half_step"].dropna().empty:
        return "missing: the half-step runs", NO_DATA
    half = _eigen_rows(tables["summary"], "eigenvalues, half step")
    worst = rows["vs_half_step"].max(skipna=False)
    gap_half = half["objective_gap"].abs().max(skipna=False) if len(half) else float("nan")
    text = (
        f"at gamma = {rows['gamma'].min():g}: largest ||X(tau) - X(tau/2)|| / ||X*|| {worst:.2g}; "
        f"worst gap at tau/2 {gap_half:.2g} (at tau {rows['objective_gap'].abs().max():.2g})"
    )
    return text, bool(worst < s["max_step_change"])


def _theorem1_scan(s, tables):
    rows = _eigen_rows(tables["summary"], factor=None)
    rows = rows[_same_scale(rows["gamma"], rows["gamma"].min())] if len(rows) else rows
    factors = sorted(rows["lambda_factor"].unique()) if len(rows) else []
    if not any(np.isclose(factors, 0.5)) or not any(np.isclose(factors, 2.0)) or not any(np.isclose(factors, 1.0)):
        return "missing: the lambda scan at c = 1/2, 1 and 2", NO_DATA
    gap = rows.pivot_table(
        index=["alpha", "trial"], columns="lambda_factor", values="objective_gap", aggfunc="first"
    ).abs()
    moves = rows.pivot_table(
        index=["alpha", "trial"], columns="lambda_factor", values="convex_vs_factor_1", aggfunc="first"
    )
    lo, one, hi = (min(gap.columns, key=lambda c, v=v: abs(c - v)) for v in (0.5, 1.0, 2.0))
    # A side tells lambda = 1/alpha from c/alpha only where the convex solution moves there.
    moved = {c: moves[c] > s["min_move"] for c in (lo, hi)}
    informative = moved[lo] | moved[hi]
    total = len(gap)
    if not informative.any():
        return (
            f"no (alpha, trial) of {total} where the convex solution moves with lambda "
            f"(by more than {s['min_move']:g} at c = 1/2 or 2): "
            "the scan cannot tell lambda = 1/alpha from a wrong one",
            NO_DATA,
        )
    g = gap[informative]
    sides = {c: moved[c][informative] for c in (lo, hi)}
    tested = int(sum(int(m.sum()) for m in sides.values()))
    rejected = sum(int((sides[c] & (g[c] > s["max_gap"])).sum()) for c in (lo, hi))
    small = g[one] < s["max_gap"]
    per_alpha = g.groupby(level="alpha").agg(lambda c: float(np.exp(np.log(c.clip(lower=1e-16)).mean())))
    text = (
        f"{int(informative.sum())} of {total} (alpha, trial) informative (alphas "
        + ", ".join(f"{a:g}" for a in sorted(set(g.index.get_level_values("alpha"))))
        + f"); gap below {s['max_gap']:g} at c = 1 in {int(small.sum())} of them; wrong c (1/2 or 2, where the "
        f"solution moves) rejected in {rejected} of {tested}; geometric-mean gap at c = 1/2, 1, 2 per alpha: "
        + "; ".join(f"{a:g}: {r[lo]:.2g}, {r[one]:.2g}, {r[hi]:.2g}" for a, r in per_alpha.iterrows())
    )
    ok = bool(small.all()) and rejected == tested
    return text, ok


def _gap_by_gamma(summary):
    """Geometric mean over trials of the relative objective gap, per (alpha, gamma)."""
    logs = summary.assign(_g=np.log10(summary["objective_gap"].abs().clip(lower=1e-16)))
    return 10.0 ** logs.groupby(["alpha", "gamma"])["_g"].mean()


def _gap_at(per_gamma: pd.Series, gamma: float) -> float | None:
    """The gap of one alpha at ``gamma`` (None where that alpha did not run it)."""
    at = per_gamma[_same_scale(per_gamma.index.to_numpy(dtype=float), gamma)]
    return float(at.iloc[0]) if len(at) else None


def _gaps_at(s: dict, tables, gammas: list[float]):
    """Each alpha's gap at each of ``gammas``: ``({alpha: [gap, ...]}, missing)``, where
    ``missing`` names the (alpha, gamma) pairs the table lacks."""
    gaps = _gap_by_gamma(_matrix_rows(tables["summary"]))
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
    summary = _matrix_rows(tables["summary"])
    ends = {
        g: summary[_same_scale(summary["gamma"], g)].set_index(["alpha", "trial"])["objective_gap"]
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
    matrix = _matrix_rows(tables["summary"])
    at = matrix[_same_scale(matrix["gamma"], smallest)]
    # Judged on the worst trial; NaN (a failed run) stays NaN and fails.
    worst = at["objective_gap"].abs().max(skipna=False)
    where = at.loc[at["objective_gap"].abs().idxmax()] if np.isfinite(worst) else None
    text = f"at gamma = {smallest:g}, worst trial over alphas: {worst:.2g}"
    if where is not None:
        text += f" (alpha {where['alpha']:g}, trial {int(where['trial'])})"
    text += f"; largest geometric mean over trials: {mean:.2g}"
    return text, bool(worst < s["max_gap"])


def _from(summary: pd.DataFrame, start: str) -> pd.DataFrame:
    """The runs from one start (tables without a ``start`` column ran from zero only)."""
    if "start" not in summary:
        return summary if start == "zero" else summary.iloc[0:0]
    return summary[summary["start"] == start]


def _gate_zero_start(s, summary):
    return _from(summary, "zero")


def _gate_random_start(s, summary):
    return _from(summary, "random")


def _weighted_matches(s, tables):
    summary = _from(tables["summary"], "zero")
    if summary.empty:
        return "missing: runs from theta0 = 0", NO_DATA
    # A failed run (NaN) fails the claim.
    worst = summary["dist_closed_form"].max(skipna=False)
    text = f"max relative distance to the closed form {worst:.2g}"
    ok = worst < s["max_distance"]
    if "dist_independent" in summary:
        indep, opt = summary["dist_independent"].max(skipna=False), summary["optimality"].max(skipna=False)
        text += f"; to an independent solve of eq. 19 {indep:.2g}; eq. 19's optimality condition violated by {opt:.2g}"
        ok = ok and indep < s["max_distance"] and opt < s["max_distance"]
    return text, bool(ok)


def _weighted_random_start(s, tables):
    summary = _from(tables["summary"], "random")
    if summary.empty:
        return "missing: runs from a random start (random_start_std > 0)", NO_DATA
    near = summary["dist_closed_form"].min(skipna=False)
    off = summary["dist_predicted"].max(skipna=False)
    text = (
        f"from a random start: min distance to the closed form {near:.2g}; max distance to where eq. 18 "
        f"predicts (theta0 plus the weighted correction) {off:.2g}"
    )
    return text, bool(near > s["min_distance"] and off < s["max_distance"])


def _alpha_lambda_main(s: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's start (Gaussian, ``init_scale``): what the claims but the
    start sweep judge, and the rows their convergence gate reads."""
    if "start" not in summary:
        return summary
    return summary[(summary["start"] == "gaussian") & np.isclose(summary["init_scale"], s["init_scale"])]


def _trivial_note(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The non-trivial rows, and how many rows were trivial (both X near 0)."""
    trivial = rows["trivial"].astype(bool) if "trivial" in rows else pd.Series(False, index=rows.index)
    alphas = sorted(rows.loc[trivial, "alpha"].unique())
    note = f"{int(trivial.sum())} of {len(rows)} runs trivial (both X near 0"
    note += f"; alphas {', '.join(f'{a:.3g}' for a in alphas)})" if alphas else ")"
    return rows[~trivial], note


_REGIME = "A = identity (robust PCA, not commuting): Sec. 2.3's observation, not Theorem 1"


def _alpha_lambda_agree(s, tables):
    summary = _alpha_lambda_main(s, tables["summary"])
    rows, note = _trivial_note(summary)
    if rows.empty:
        return f"{_REGIME}; {note}; no non-trivial run", NOT_REACHED
    # A failed run (NaN) is not within any distance.
    worst = rows.assign(rel_dist=rows["rel_dist"].fillna(np.inf)).groupby("alpha")["rel_dist"].max()
    far = worst[worst >= s["max_distance"]]
    text = f"{_REGIME}; largest ||X_DOP - X_convex|| / ||X*|| over trials, per non-trivial alpha: " + ", ".join(
        f"{a:.3g}: {d:.2g}" for a, d in worst.items()
    )
    text += f" ({len(worst) - len(far)} of {len(worst)} alphas within {s['max_distance']:g}; {note}"
    at_root = rows_at_sqrt_n(rows, s["n"])["rel_dist"]
    if not at_root.empty:
        text += f"; at sqrt(n): {at_root.max():.2g}"
    return text + ")", far.empty


def _alpha_lambda_gap(s, tables):
    rows, note = _trivial_note(_alpha_lambda_main(s, tables["summary"]))
    if rows.empty:
        return f"{_REGIME}; {note}; no non-trivial run", NOT_REACHED
    worst = rows.assign(g=rows["objective_gap"].fillna(np.inf)).groupby("alpha")["g"].max()
    text = f"{_REGIME}; largest relative objective gap at lambda = 1/alpha, per non-trivial alpha: "
    text += ", ".join(f"{a:.3g}: {g:.2g}" for a, g in worst.items()) + f" ({note})"
    return text, bool((worst <= s["max_gap"]).all())


def _alpha_lambda_pareto(s, tables):
    rows, note = _trivial_note(_alpha_lambda_main(s, tables["summary"]))
    if rows.empty:
        return f"{_REGIME}; {note}; no non-trivial run", NOT_REACHED
    dominated = rows["dominated"].astype(bool)
    per_alpha = rows.assign(d=dominated).groupby("alpha")["d"].agg(["sum", "size"])
    text = (
        f"{_REGIME}; runs whose endpoint a convex solution beats on both tr(X) and ||Y - X||_1, per non-trivial alpha: "
    )
    text += ", ".join(f"{a:.3g}: {int(r['sum'])}/{int(r['size'])}" for a, r in per_alpha.iterrows())
    return text + f" ({note})", not bool(dominated.any())


def _alpha_lambda_best(s, tables):
    rows, note = _trivial_note(_alpha_lambda_main(s, tables["summary"]))
    if rows.empty:
        return f"{_REGIME}; {note}; no non-trivial run", NOT_REACHED
    logs = rows.assign(l=np.log(rows["best_lambda_alpha"].astype(float)))
    per_alpha = np.exp(logs.groupby("alpha")["l"].mean())
    text = f"{_REGIME}; best-fitting lambda * alpha (geometric mean over trials), per non-trivial alpha: "
    text += ", ".join(f"{a:.3g}: {v:.3g}" for a, v in per_alpha.items()) + f" ({note}"
    if "best_at_edge" in rows and rows["best_at_edge"].astype(bool).any():
        text += f"; {int(rows['best_at_edge'].astype(bool).sum())} at the lambda grid's end, a bound"
    text += ")"
    ok = np.abs(np.log(per_alpha.to_numpy())) <= np.log(s["max_ratio"])
    return text, bool(np.isfinite(per_alpha.to_numpy()).all() and ok.all())


def _alpha_lambda_starts(s, tables):
    summary = tables["summary"]
    rows, note = _trivial_note(summary)
    trials = sorted(summary.loc[summary["start"] != "gaussian", "trial"].unique()) if "start" in summary else []
    rows = rows[rows["trial"].isin(trials)] if trials else rows.iloc[0:0]
    if rows.empty:
        return f"{_REGIME}; {note}; no non-trivial run of the start sweep", NOT_REACHED
    parts, ok = [], True
    for start, group in rows.groupby("start"):
        per = group.groupby(["alpha", "init_scale"])["rel_dist"].max().unstack("init_scale").sort_index(axis=1)
        if per.shape[1] < 2:
            continue
        small, large = per.iloc[:, 0], per.iloc[:, -1]
        falls = small < large
        ok &= bool(falls.all())
        parts.append(
            f"{start} (scale {per.columns[-1]:g} -> {per.columns[0]:g}): "
            + ", ".join(f"{a:.3g}: {large[a]:.2g} -> {small[a]:.2g}" for a in per.index)
        )
    if not parts:
        return f"{_REGIME}; fewer than two scales of any start", NOT_REACHED
    return f"{_REGIME}; largest distance to the convex solution, per non-trivial alpha: " + "; ".join(
        parts
    ) + f" ({note})", ok


def _start_scales(s: dict) -> list[float]:
    """Every start scale of an alpha-lambda sweep, as a claim's need."""
    return sorted({scale for _, scale, _ in alpha_lambda_starts(s)})


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
                at_limit=_gate_matrix,
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
                at_limit=_gate_matrix_smallest,
            ),
            Claim(
                key="reduction",
                text="(our check, Theorem 1) The eigenvalue dynamics reproduce the matrix dynamics (commuting "
                "A_i keep U = V diag(u) V^T): endpoints within {max_reduction:g} of ||X*||",
                plot="theory_theorem1",
                paper="(the proof's reduction, App. B)",
                check=_theorem1_reduction,
                needs={"alpha": _alphas},
                limits={"max_reduction": 1e-6},
            ),
            Claim(
                key="gap_small_deep",
                text="(our check, Theorem 1) At the smallest gamma of the eigenvalue dynamics the relative objective "
                "gap is below {max_gap:g} for every alpha (with scan_alphas), in every trial",
                plot="theory_theorem1",
                paper="gap -> 0",
                check=_theorem1_deep,
                needs={"alpha": _alphas},
                limits={"max_gap": 1e-2},
                at_limit=_gate_deepest,
            ),
            Claim(
                key="half_step",
                text="(our check, Theorem 1, whose limit takes tau -> 0 first) Halving the step (twice the steps) "
                "moves the endpoints at the smallest gamma by less than {max_step_change:g} of ||X*||",
                plot="theory_theorem1",
                paper="tau -> 0",
                check=_theorem1_half_step,
                needs={"alpha": _alphas},
                limits={"max_step_change": 1e-2},
                at_limit=_gate_deepest_both_steps,
            ),
            Claim(
                key="lambda_scan",
                text="(our check, Theorem 1: a negative control of lambda) Where the convex solution moves with "
                "lambda, DOP's endpoint at the smallest gamma solves the program at lambda = 1/alpha (gap below "
                "{max_gap:g}) and not at lambda = c/alpha for c = 1/2 or 2 wherever that solution differs (gap above "
                "{max_gap:g}), in every trial",
                plot="theory_theorem1",
                paper="lambda = 1/alpha",
                check=_theorem1_scan,
                needs={"alpha": _alphas},
                limits={"max_gap": 1e-2, "min_move": 1e-3},
                at_limit=_gate_deepest,
            ),
        ],
        "theory_weighted_min_norm": [
            Claim(
                key="closed_form",
                text="(our check, Appendix A) Gradient descent with per-coordinate rates Lambda from theta0 = 0 "
                "converges to the minimum ||Lambda^(-1/2) theta|| interpolant: within {max_distance:g} (relative) of "
                "the closed form and of an independent least-squares solve of eq. 19, and meeting eq. 19's "
                "optimality condition (Lambda^-1 theta in the row space of W) to {max_distance:g}",
                plot="theory_weighted_min_norm",
                paper="eqs. 18-19",
                check=_weighted_matches,
                needs={"weight_ratio": _weight_ratios},
                limits={"max_distance": 1e-6},
                sizes=("smoke", "quick", "cpu", "paper"),
                at_limit=_gate_zero_start,
            ),
            Claim(
                key="random_start",
                text="(our check, Appendix A: the control of its condition theta0 = 0) From a random start the limit "
                "misses the closed form (relative distance > {min_distance:g}) and lands where eq. 18 predicts, "
                "theta0 plus the weighted correction, within {max_distance:g}",
                plot="theory_weighted_min_norm",
                paper="eqs. 18-19 (from theta0 = 0)",
                check=_weighted_random_start,
                needs={"weight_ratio": _weight_ratios},
                limits={"min_distance": 1e-3, "max_distance": 1e-6},
                sizes=("smoke", "quick", "cpu", "paper"),
                at_limit=_gate_random_start,
            ),
        ],
        "theory_alpha_lambda": [
            Claim(
                key="agree_across_alpha",
                text="(our check, Sec. 2.3; A = identity, not commuting, so not Theorem 1) In robust PCA, DOP "
                "run to stationarity from the paper's start at every non-trivial alpha of the grid lands within "
                "{max_distance:g} (relative to ||X*||, in every trial) of the convex solution at lambda = 1/alpha "
                "(runs where both X are near 0 are trivial, counted and left out)",
                plot="theory_alpha_lambda",
                paper="alpha = 1/lambda (observation)",
                check=_alpha_lambda_agree,
                needs={"alpha": sweep_alphas},
                limits={"max_distance": 0.1},
                at_limit=_alpha_lambda_main,
            ),
            Claim(
                key="objective_gap",
                text="(our check, Sec. 2.3; A = identity, not Theorem 1) DOP's endpoint (X, Y - X) is within a "
                "relative objective gap of {max_gap:g} of the convex optimum of tr(X) + (1/alpha)||Y - X||_1, "
                "X PSD, at every non-trivial alpha, in every trial",
                plot="theory_alpha_lambda",
                paper="alpha = 1/lambda (observation)",
                check=_alpha_lambda_gap,
                needs={"alpha": sweep_alphas},
                limits={"max_gap": 1e-2},
                at_limit=_alpha_lambda_main,
            ),
            Claim(
                key="pareto",
                text="(our check, Sec. 2.3; A = identity, not Theorem 1) DOP's endpoint solves the convex program "
                "for some lambda: no convex solution along the lambda grid beats it on both tr(X) and ||Y - X||_1, "
                "at any non-trivial alpha, in any trial",
                plot="theory_alpha_lambda",
                paper="alpha = 1/lambda (observation)",
                check=_alpha_lambda_pareto,
                needs={"alpha": sweep_alphas},
                at_limit=_alpha_lambda_main,
            ),
            Claim(
                key="best_lambda",
                text="(our check, Sec. 2.3; A = identity, not Theorem 1) The lambda whose convex solution is "
                "nearest DOP's endpoint is 1/alpha within a factor {max_ratio:g} (geometric mean over trials), "
                "at every non-trivial alpha",
                plot="theory_alpha_lambda",
                paper="lambda = 1/alpha",
                check=_alpha_lambda_best,
                needs={"alpha": sweep_alphas},
                limits={"max_ratio": 1.25},
                at_limit=_alpha_lambda_main,
            ),
            Claim(
                key="smaller_start_closer",
                text="(our check, Sec. 2.3; A = identity, not Theorem 1) For the paper's Gaussian start and "
                "Theorem 1's balanced start, the smallest start scale lands nearer the convex solution at "
                "lambda = 1/alpha than the largest, at every non-trivial alpha (start-sweep trials)",
                plot="theory_alpha_lambda",
                paper="small initialization (Theorem 1's mechanism)",
                check=_alpha_lambda_starts,
                needs={"alpha": sweep_alphas, "init_scale": _start_scales},
                at_limit=True,
            ),
        ],
    },
)
