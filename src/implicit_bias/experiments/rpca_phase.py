"""Robust-PCA phase transitions in rank and corruption (You et al. 2020, Figs. 2b and 2c).

One job per (method, rank): all corruption levels and trials of that row of the grid run
as one batch, DOP as one tensor program, APG as one batched solver call.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..grids import param_key
from ..plotting import figure
from ..records import tidy
from ..rpca_runs import dop_alpha, dop_init, pcp_weight, planted_batch
from ..scorecard import INCONCLUSIVE, NO_DATA, Claim, mcnemar_exact, trials_to_settle, wilson_interval
from . import Context, Family, Kind, Plot, ranks_at_most_n


def _alpha(s: dict) -> float:
    from ..rpca import learning_rate_ratio

    return learning_rate_ratio(s["alpha"], s["n"])


def _lambda(s: dict) -> float:
    from ..apg import pcp_lambda

    return pcp_lambda(s["lambda"], s["n"])


def row_jobs(s: dict) -> list[dict]:
    """One job per method and group of ``ranks_per_job`` rows of the grid (``rank``: the
    group's first rank; ``to``: its last, when there are several)."""
    k = s["ranks_per_job"]
    groups = [s["ranks"][i : i + k] for i in range(0, len(s["ranks"]), k)]
    return [
        {"method": m, "rank": int(g[0]), **({"to": int(g[-1])} if len(g) > 1 else {})}
        for m in s["methods"]
        for g in groups
    ]


def row_resources(s: dict, job: dict) -> dict:
    """What one job of rows asks the scheduler for: one thread, whatever the method.

    A grid is many row jobs (75 at the paper's size), so the cores are kept busy by
    running several at once, not by splitting one: on the 2-core reference machine two
    DOP rows of the paper's grid (250 problems, 20,000 float32 steps) took 74 s side by
    side on one thread each, against 41 s each one after the other on two threads; two
    APG rows 14.9 s against 17.1 s. The certified solver keeps one core busy whatever it
    is given. Every trial is computed alone, so the threads never change a result.

    :param s: the sweep's settings.
    :param job: the job's parameters (:func:`row_jobs`).
    :returns: ``threads``, ``mem_mb``, ``runtime`` (minutes) and ``gpu``.
    """
    return {"threads": 1, "mem_mb": 2000, "runtime": 120, "gpu": 0}


def _job_ranks(s: dict, job: dict) -> list[int]:
    start = s["ranks"].index(int(job["rank"]))
    return [int(r) for r in s["ranks"][start : start + s["ranks_per_job"]]]


def _row_problems(ctx: Context, s: dict, ranks: list[int], trials):
    """Every (rank, p, trial) problem of some rows of the grid, stacked:
    ``(X, S, seeds, init_rngs, ranks, ps)``, the last four per problem."""
    import torch

    Xs, Ss, seeds, rngs, rows, ps = [], [], [], [], [], []
    for rank in ranks:
        for p in s["ps"]:
            X, S, sd, ir = planted_batch(ctx, s, trials, rank=rank, p=p)
            Xs.append(X)
            Ss.append(S)
            seeds += sd
            rngs += ir
            rows += [rank] * len(trials)
            ps += [p] * len(trials)
    return torch.cat(Xs), torch.cat(Ss), seeds, rngs, rows, ps


def _by_dop(ctx: Context, s: dict, X, Y, init_rngs, label: str):
    from ..devices import resolve_dtype
    from ..rpca import dop_descent

    alpha = _alpha(s)
    # The engine's own floating point (dop_dtype; null: the configuration's dtype).
    dtype = resolve_dtype(s["dop_dtype"]) if s["dop_dtype"] else Y.dtype
    U0, g0, h0 = (t.to(dtype) for t in dop_init(init_rngs, s["n"], s["init_scale"], X))
    res = dop_descent(
        Y.to(dtype), U0, g0, h0, alpha, s["lr"], steps=s["steps"], record_every=s["steps"], desc=ctx.label(label)
    )
    extra = {
        "alpha": alpha,
        "lambda": 1.0 / alpha,
        "steps": s["steps"],
        "lr": s["lr"],
        "init_scale": s["init_scale"],
        "dtype": str(dtype).removeprefix("torch."),
    }
    return res.X.to(Y.dtype), res.S.to(Y.dtype), res.diverged.cpu().numpy(), extra, {}


def _by_apg(ctx: Context, s: dict, X, Y, init_rngs, label: str):
    import torch

    from ..apg import apg_rpca

    res = apg_rpca(Y, _lambda(s), tol=s["apg_tol"], max_iter=s["apg_max_iter"])
    per_trial = {"iterations": res.iterations.cpu().numpy(), "converged": res.converged.cpu().numpy()}
    return res.X, res.S, ~torch.isfinite(res.residual).cpu().numpy(), {"lambda": _lambda(s)}, per_trial


def _by_pcp(ctx: Context, s: dict, X, Y, init_rngs, label: str):
    import torch

    from ..convex import pcp

    # The exact convex program, solved in float64 to a certified duality gap.
    res = pcp(Y.double(), _lambda(s), tol=s["pcp_tol"], max_iter=s["pcp_max_iter"])
    per_trial = {
        "iterations": res.iterations.cpu().numpy(),
        "certified": res.certified.cpu().numpy(),
        "gap": res.gap.cpu().numpy(),
    }
    X_hat, S_hat = res.X.to(Y.dtype), (Y.double() - res.X).to(Y.dtype)
    return X_hat, S_hat, ~torch.isfinite(res.gap).cpu().numpy(), {"lambda": _lambda(s)}, per_trial


#: How each method of the grid solves a row's problems.
SOLVERS = {"dop": _by_dop, "apg": _by_apg, "pcp": _by_pcp}


def run_row(ctx: Context, job: dict):
    from ..rpca import relative_error

    s = ctx.settings
    method, ranks = job["method"], _job_ranks(s, job)
    if method not in SOLVERS:
        raise ValueError(f"unknown method {method!r} for rpca_phase; known: {', '.join(SOLVERS)}")
    trials = list(range(s["trials"]))
    X, S, seeds, init_rngs, rows_rank, ps = _row_problems(ctx, s, ranks, trials)
    label = f"{method} ranks {ranks[0]}..{ranks[-1]} ({len(ps)} problems)"
    X_hat, S_hat, diverged, extra, per_trial = SOLVERS[method](ctx, s, X, X + S, init_rngs, label)
    err_x = relative_error(X_hat, X).cpu().numpy()
    err_s = relative_error(S_hat, S).cpu().numpy()
    rows = []
    for i, seed in enumerate(seeds):
        ok = bool(err_x[i] < s["success_threshold"]) and not bool(diverged[i])
        row = {
            "method": method,
            "job": param_key(job),
            "trial": trials[i % len(trials)],
            "seed": seed,
            "n": s["n"],
            "rank": rows_rank[i],
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
    """Label the equal-width squares of a (possibly uneven) grid with their values."""
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
    exact = success_grid(summary, "pcp") if "pcp" in set(summary["method"]) else None
    fig, axes = figure(len(methods), 1, width=3.0, height=2.9, sharey=True, gridspec_kw={"wspace": 0.08})
    titles = {"apg": f"APG (convex), $\\lambda = {pcp_weight(s):.3g}$", "dop": f"DOP, $\\alpha = {dop_alpha(s):.3g}$"}
    mesh = None
    for ax, method in zip(axes[0], methods, strict=True):
        ranks, ps, frac = success_grid(summary, method)
        # One equal square per grid point, as in the paper; ticks carry the values.
        mesh = ax.imshow(frac, cmap="gray", vmin=0, vmax=1, origin="lower", aspect="auto", interpolation="nearest")
        if exact is not None and min(exact[2].shape) > 1:
            # The exact convex program's 50% line, the same on both panels.
            ax.contour(exact[2], levels=[0.5], colors=["#ff7f0e"], linewidths=1.2)
        _ticks(ax, ps, "x", most=5)  # four-character labels under a narrow panel
        _ticks(ax, ranks, "y")
        ax.set_title(titles[method])
        ax.set_xlabel("corruption $p$")
        ax.grid(False)
    axes[0, 0].set_ylabel("rank $r$")
    if exact is not None:
        axes[0, -1].plot([], [], color="#ff7f0e", lw=1.2, label="convex program (certified optimum): 50% success")
        fig.legend(loc="lower center", bbox_to_anchor=(0.45, -0.12), frameon=False, fontsize=7)
    cbar = fig.colorbar(mesh, ax=list(axes[0]), fraction=0.04, pad=0.02)
    cbar.set_label("fraction of successful trials")
    fig.suptitle(f"robust PCA phase transition, n = {s['n']}, {s['trials']} trials per grid point", y=1.04, fontsize=9)
    return fig


def _caption(settings):
    ((sweep, s),) = settings.items()
    return (
        f"Fraction of successful recoveries (relative error of X below "
        f"{s['success_threshold']:g}) over {s['trials']} trials per grid point (sweep {sweep}; "
        f"You et al. 2020, Figs. 2b, 2c), white = always succeeds. Rank r on the vertical "
        f"axis ({len(s['ranks'])} values from {min(s['ranks'])} to {max(s['ranks'])}), "
        f"corruption p on the horizontal axis ({len(s['ps'])} values from {min(s['ps']):g} "
        f"to {max(s['ps']):g}), n = {s['n']}. Left: the convex program "
        f"min ||X||_* + lambda ||S||_1 s.t. X + S = Y with lambda = {pcp_weight(s):.3g}, solved "
        f"by accelerated proximal gradient with continuation (Lin et al. 2009; tolerance "
        f"{s['apg_tol']:g}). Right: DOP with alpha = {dop_alpha(s):.3g}, {s['steps']} steps of "
        f"size tau = {s['lr']:g}, initialization scale {s['init_scale']:g}. The orange line (where "
        f"run) is the 50% success line of the same convex program solved to a certified optimum "
        f"(relative duality gap {s['pcp_tol']:g}). All methods see the same problems."
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------


#: The methods of the grid, as the claims name them.
_NAMES = {"apg": "APG", "dop": "DOP", "pcp": "exact convex program"}
#: The methods the corner claims are about.
_CORNER_METHODS = ("apg", "dop", "pcp")


def _fractions(summary):
    return summary.assign(success=summary["success"].astype(float)).groupby(["method", "rank", "p"])["success"].mean()


def _corner_check(easy: bool):
    """A check that every trial of every method in a corner of the grid succeeds (``easy``:
    rank <= ``max_rank`` and p <= ``max_p``) or fails (rank >= ``min_rank`` and p >= ``min_p``)."""

    def check(s, tables):
        summary = tables["summary"]
        if easy:
            inside = (summary["rank"] <= s["max_rank"]) & (summary["p"] <= s["max_p"])
            where = f"rank <= {s['max_rank']} and p <= {s['max_p']:g}"
        else:
            inside = (summary["rank"] >= s["min_rank"]) & (summary["p"] >= s["min_p"])
            where = f"rank >= {s['min_rank']} and p >= {s['min_p']:g}"
        part = summary[inside].assign(success=lambda d: d["success"].astype(bool))
        absent = [m for m in _CORNER_METHODS if not (part["method"] == m).any()]
        if absent:
            return "missing: " + ", ".join(f"{m} trials with {where}" for m in absent), NO_DATA
        counts = part.groupby("method")["success"].agg(["sum", "count"])
        text = ", ".join(
            f"{m}: {k / t:.2f} of {t} trials (95% CI {_interval(k, t)})"
            for m, (k, t) in ((m, (int(r["sum"]), int(r["count"]))) for m, r in counts.iterrows())
        )
        return text, bool(part["success"].all()) if easy else not bool(part["success"].any())

    return check


#: What identifies one problem of the grid: every method solves the same ones.
_PROBLEM = ["rank", "p", "trial"]


def _paired(summary, method: str, other: str, suffix: str, extra: tuple[str, ...] = ()):
    """``method``'s and ``other``'s rows on the problems both solved, indexed by problem:
    ``success`` and ``success<suffix>`` as booleans, and ``other``'s ``extra`` columns."""
    mine = summary[summary["method"] == method].set_index(_PROBLEM)[["success"]]
    theirs = summary[summary["method"] == other].set_index(_PROBLEM)[["success", *extra]]
    both = mine.merge(theirs, left_index=True, right_index=True, suffixes=("", suffix))
    return both.astype({"success": bool, f"success{suffix}": bool})


def _interval(successes: int, trials: int) -> str:
    low, high = wilson_interval(successes, trials)
    return f"{low:.2f}-{high:.2f}"


def _uncovered(summary, methods, key: list[str], what: str) -> list[str]:
    """What each of ``methods`` lacks of the ``key`` points any of them ran, as phrases (at most
    three points named per method): methods compared on different points are not compared."""
    points = {m: set(map(tuple, summary.loc[summary["method"] == m, key].to_numpy().tolist())) for m in methods}
    union = set().union(*points.values())
    out = []
    for m in methods:
        lack = sorted(union - points[m])
        if lack:
            named = "; ".join(", ".join(f"{k} {v:g}" for k, v in zip(key, pt, strict=True)) for pt in lack[:3])
            more = f" and {len(lack) - 3} more" if len(lack) > 3 else ""
            out.append(f"{m} at {len(lack)} of {len(union)} {what} ({named}{more})")
    return out


def _region_against(rival: str):
    """DOP's region of success (grid points with success >= ``min_success``) against ``rival``'s."""

    def check(s, tables):
        summary = tables["summary"]
        lacking = _uncovered(summary, ("dop", rival), ["rank", "p"], "grid points")
        if lacking:
            return "missing: " + "; ".join(lacking), NO_DATA
        frac = _fractions(summary)
        methods = sorted(set(frac.index.get_level_values("method")))
        points = {m: int((frac.xs(m, level="method") >= s["min_success"]).sum()) for m in methods}
        total = len(frac.xs("dop", level="method"))
        text = f"grid points with success >= {s['min_success']:g}: " + ", ".join(
            f"{_NAMES.get(m, m)} {c}" for m, c in points.items()
        )
        text = f"{text} of {total}"
        if points["dop"] <= points[rival]:
            return text, False
        # The same problems are solved by both: the paired test on the problems one recovers alone.
        pair = _paired(summary, "dop", rival, "_rival")
        only_dop = int((pair["success"] & ~pair["success_rival"]).sum())
        only_rival = int((~pair["success"] & pair["success_rival"]).sum())
        p_value = mcnemar_exact(only_dop, only_rival)
        text += (
            f"; paired over {len(pair)} problems: DOP alone recovers {only_dop}, {_NAMES[rival]} alone "
            f"{only_rival} (McNemar's exact test p = {p_value:.2g})"
        )
        if only_dop > only_rival and p_value < s["significance"]:
            return text, True
        trials = int(summary["trial"].nunique())
        settle = trials_to_settle(only_dop, only_rival, trials)
        more = f"; about {settle} trials per grid point would settle it at this discordance" if settle else ""
        return f"{text}: not significant at {s['significance']:g}{more}", INCONCLUSIVE

    return check


def _apg_against_exact(s, tables):
    summary = tables["summary"]
    lacking = _uncovered(summary, ("apg", "pcp"), _PROBLEM, "problems")
    if lacking:
        return "missing: " + "; ".join(lacking), NO_DATA
    both = _paired(summary, "apg", "pcp", "_exact", extra=("certified",))
    differ = both[both["success"] != both["success_exact"]]
    points = differ.reset_index()[["rank", "p"]].drop_duplicates()
    frac = both.groupby(["rank", "p"])[["success", "success_exact"]].mean()
    half = s["min_success"]
    differ_half = int(((frac["success"] >= half) != (frac["success_exact"] >= half)).sum())
    uncertified = int((~both["certified"].astype(bool)).sum())
    text = (
        f"APG's verdict differs from the exact program's on {len(differ)} of {len(both)} problems "
        f"({int(differ['success_exact'].sum())} the exact program recovers, {int(differ['success'].sum())} only APG), "
        f"in {len(points)} of {len(frac)} grid points; {differ_half} grid points change side of {half:.0%} success; "
        f"the exact program was certified (gap <= {s['pcp_tol']:g}) on {len(both) - uncertified} of {len(both)}"
    )
    return text, differ.empty


def _ranks(s: dict) -> list:
    """Every rank of the sweep's grid, as a claim's need."""
    return s["ranks"]


def _ps(s: dict) -> list:
    """Every corruption level of the sweep's grid, as a claim's need."""
    return s["ps"]


FAMILY = Family(
    kinds={
        "rpca_phase": Kind(
            jobs=row_jobs,
            run=run_row,
            plots=("phase_transition",),
            resources=row_resources,
            checks=ranks_at_most_n("ranks"),
        ),
    },
    plots={"phase_transition": Plot(draw=_draw, caption=_caption, kinds=("rpca_phase",))},
    claims={
        "rpca_phase": [
            Claim(
                key="easy_corner",
                text="Every method (APG, DOP, the exact convex program) recovers X in every trial with "
                "rank <= {max_rank} and p <= {max_p:g}",
                plot="phase_transition",
                paper="white corner (Figs. 2b, 2c)",
                check=_corner_check(easy=True),
                needs={"method": _CORNER_METHODS},
                limits={"max_rank": 3, "max_p": 0.1},
            ),
            Claim(
                key="hard_corner",
                text="Every method fails in every trial with rank >= {min_rank} and p >= {min_p:g}",
                plot="phase_transition",
                paper="black corner (Figs. 2b, 2c)",
                check=_corner_check(easy=False),
                needs={"method": _CORNER_METHODS},
                limits={"min_rank": 20, "min_p": 0.4},
            ),
            Claim(
                key="dop_region",
                text="DOP (alpha = sqrt(n)) succeeds on a larger region than the convex program solved by APG "
                "(lambda = 1/sqrt(n), tolerance as Lin et al.; a grid point counts where its success fraction is "
                ">= {min_success:g}, and DOP alone recovers more of the same problems than APG alone, McNemar's "
                "exact test p < {significance:g})",
                plot="phase_transition",
                paper="wider region than the convex method (Figs. 2b, 2c)",
                check=_region_against("apg"),
                needs={"method": ("apg", "dop"), "rank": _ranks, "p": _ps},
                limits={"min_success": 0.5, "significance": 0.05},
            ),
            Claim(
                key="dop_region_exact",
                text="(our check) DOP succeeds on a larger region than the convex program solved to a certified "
                "optimum (a grid point counts where its success fraction is >= {min_success:g}, and DOP alone "
                "recovers more of the same problems than the program alone, McNemar's exact test p < {significance:g})",
                plot="phase_transition",
                paper="wider region than the convex method (Figs. 2b, 2c)",
                check=_region_against("pcp"),
                needs={"method": ("dop", "pcp"), "rank": _ranks, "p": _ps},
                limits={"min_success": 0.5, "significance": 0.05},
            ),
            Claim(
                key="apg_matches_exact",
                text="(our check) APG at the paper's tolerance reaches the exact convex program's verdict on every "
                "problem",
                plot="phase_transition",
                paper="APG solves the convex program (Fig. 2b)",
                check=_apg_against_exact,
                needs={"method": ("apg", "pcp"), "rank": _ranks, "p": _ps},
                limits={"min_success": 0.5},
            ),
        ],
    },
)
