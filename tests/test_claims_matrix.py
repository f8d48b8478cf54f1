"""The matrix families' claims (robust PCA, phase transition, theory) on made-up tables: each
reads yes where its numbers hold, no where they do not, and "no data", naming what is
missing, where the table lacks what it compares."""

import dataclasses
import math

import pandas as pd
import pytest

from implicit_bias.config import kind_defaults
from implicit_bias.experiments import registry
from implicit_bias.scorecard import FAILS, HOLDS, INCONCLUSIVE, NO_DATA, NOT_CONVERGED, scorecard

MATRIX_KINDS = (
    "rpca_alpha",
    "rpca_curves",
    "rpca_phase",
    "theory_theorem1",
    "theory_weighted_min_norm",
    "theory_alpha_lambda",
)
ROOT = math.sqrt(50)  # sqrt(n) at the default n


def _settings(kind: str, **overrides) -> dict:
    return {**kind_defaults(kind), "kind": kind, **overrides}


def _judge(kind: str, key: str, summary: pd.DataFrame, curves=None, **overrides) -> tuple[str, str]:
    """The verdict and ``ours`` of one claim on one sweep's tables."""
    tables = {"s": {"summary": summary, "curves": pd.DataFrame() if curves is None else curves}}
    card = scorecard("quick", {"s": _settings(kind, **overrides)}, tables, registry().claims, figures={})
    row = card.set_index("claim_id").loc[f"s:{key}"]
    return row["holds"], row["ours"]


# ---------------------------------------------------------------------------------------
# Made-up tables
# ---------------------------------------------------------------------------------------


def alpha_sweep(errors: dict) -> dict:
    """DOP's error per alpha: ``{alpha: [error of each trial]}``."""
    rows = [
        {"method": "dop", "alpha": a, "trial": t, "rel_err_X": e}
        for a, errs in errors.items()
        for t, e in enumerate(errs)
    ]
    return {"summary": pd.DataFrame(rows)}


def learning_curves(curves: dict, methods=None) -> dict:
    """Error curves ``{method: [[error at iterations 0, 100, ...] of each trial]}``; the
    summary names ``methods`` (default: the curves' methods)."""
    rows = [
        {"method": m, "trial": t, "iteration": 100 * i, "rel_err_X": e}
        for m, trials in curves.items()
        for t, curve in enumerate(trials)
        for i, e in enumerate(curve)
    ]
    methods = list(curves) if methods is None else methods
    return {"summary": pd.DataFrame({"method": methods, "trial": 0}), "curves": pd.DataFrame(rows)}


PHASE_GRID = {"ranks": [1, 3, 6, 20], "ps": [0.1, 0.2, 0.4]}


def phase(succeeds=lambda m, r, p, t: r <= 3 and p <= 0.1, methods=("apg", "dop", "pcp"), drop=()) -> dict:
    """A phase-transition table on :data:`PHASE_GRID`, two trials per grid point; ``drop`` lists
    ``(method, rank, p, trial)`` rows to leave out."""
    rows = [
        {"method": m, "rank": r, "p": p, "trial": t, "success": succeeds(m, r, p, t), "certified": True}
        for m in methods
        for r in PHASE_GRID["ranks"]
        for p in PHASE_GRID["ps"]
        for t in (0, 1)
        if (m, r, p, t) not in drop
    ]
    return {"summary": pd.DataFrame(rows)}


def _dop_also(cells):
    """DOP succeeds, besides the easy corner, at ``{(rank, p): trials}``."""
    return lambda m, r, p, t: (r <= 3 and p <= 0.1) or (m == "dop" and t in cells.get((r, p), ()))


#: Grid points where DOP also succeeds in both trials, enough for McNemar's test.
THREE_MORE = {(6, 0.1): (0, 1), (6, 0.2): (0, 1), (3, 0.2): (0, 1)}


THEOREM1 = {"alphas": [1.0, 10.0], "gammas": [0.1, 0.01, 0.001]}


def theorem1(gaps: dict) -> dict:
    """Objective gaps ``{(alpha, gamma): [gap of each trial]}``."""
    rows = [
        {"method": "dop", "alpha": a, "gamma": g, "trial": t, "objective_gap": v, "residual": 0.0, "last_change": 0.0}
        for (a, g), values in gaps.items()
        for t, v in enumerate(values)
    ]
    return {"summary": pd.DataFrame(rows)}


def theorem1_deep(scan=None, *, gap=1e-4, vs_matrix=1e-10, vs_half=1e-4, last_change=0.0, drop=()) -> dict:
    """Matrix rows of :func:`theorem1` (every gap 1e-3), and eigenvalue rows at gammas 1e-3
    and 1e-9 (the deepest) for alphas 1 and 10, two trials: the lambda scan at the deepest
    gamma as ``scan`` ``{c: (gap, how far the convex solution moved from c = 1)}`` (default: a
    scan that identifies c = 1 where the solution moves), the half-step runs, and the
    eigenvalue runs' distance to the matrix runs (``vs_matrix``) and to the half step."""
    scan = scan or {0.5: (0.05, 0.1), 0.8: (0.005, 0.02), 1.0: (gap, 0.0), 2.0: (0.08, 0.2)}
    base = theorem1({(a, g): [1e-3, 1e-3] for a in THEOREM1["alphas"] for g in THEOREM1["gammas"]})["summary"]
    base = base.assign(dynamics="matrix", lambda_factor=1.0)
    rows = []
    for a in THEOREM1["alphas"]:
        for t in range(2):
            common = {"method": "dop", "alpha": a, "trial": t, "residual": 0.0, "last_change": last_change}
            rows.append(
                {
                    **common,
                    "dynamics": "eigenvalues",
                    "gamma": 1e-3,
                    "lambda_factor": 1.0,
                    "objective_gap": 1e-3,
                    "vs_matrix": vs_matrix,
                }
            )
            for c, (g, moved) in scan.items():
                rows.append(
                    {
                        **common,
                        "dynamics": "eigenvalues",
                        "gamma": 1e-9,
                        "lambda_factor": c,
                        "objective_gap": g,
                        "convex_vs_factor_1": moved,
                        **({"vs_half_step": vs_half} if c == 1.0 else {}),
                    }
                )
            rows.append(
                {
                    **common,
                    "dynamics": "eigenvalues, half step",
                    "gamma": 1e-9,
                    "lambda_factor": 1.0,
                    "objective_gap": gap,
                }
            )
    frame = pd.concat([base, pd.DataFrame(rows)], ignore_index=True)
    for dynamics in drop:
        frame = frame[frame["dynamics"] != dynamics]
    return {"summary": frame}


def _gaps(**special) -> dict:
    """Gaps equal to gamma at every (alpha, gamma) of :data:`THEOREM1`, except ``special``
    (keyed ``a<alpha>_g<index of gamma>``)."""
    out = {}
    for a in THEOREM1["alphas"]:
        for i, g in enumerate(THEOREM1["gammas"]):
            out[(a, g)] = special.get(f"a{a:g}_g{i}", [g, g])
    return out


def weighted(dist: dict, random=None, **columns) -> dict:
    """Distances ``{weight_ratio: [(to the closed form, to the plain min-norm) of each trial]}``
    from theta0 = 0, and from a random start ``random`` ``[(to the closed form, to where
    eq. 18 predicts) of each run]`` (at ratio 10); ``columns`` set a column of every row."""
    rows = [
        {"method": "gd", "start": "zero", "weight_ratio": r, "trial": t, "dist_closed_form": c, "dist_min_norm": p}
        for r, trials in dist.items()
        for t, (c, p) in enumerate(trials)
    ]
    rows += [
        {
            "method": "gd",
            "start": "random",
            "weight_ratio": 10.0,
            "trial": t,
            "dist_closed_form": c,
            "dist_predicted": p,
        }
        for t, (c, p) in enumerate(random or [])
    ]
    return {"summary": pd.DataFrame(rows).assign(**{"residual": 0.0, "last_change": 0.0, **columns})}


RANDOM_OK = [(7.5, 1e-14), (3.0, 1e-13)]


WEIGHTED_OK = {1.0: [(1e-15, 1e-15)] * 2, 10.0: [(1e-12, 0.3)] * 2, 100.0: [(5e-7, 0.5), (1e-9, 2e-3)]}
LAMBDA_GRID = {"alpha_num": 2}  # the grid 1, sqrt(50), 100


def alpha_lambda(dist: dict) -> dict:
    """Distances of DOP to the convex solution ``{alpha: [each trial]}``."""
    rows = [
        {"method": "dop", "alpha": a, "trial": t, "rel_dist": d} for a, ds in dist.items() for t, d in enumerate(ds)
    ]
    return {"summary": pd.DataFrame(rows).assign(residual=0.0, last_change=0.0)}


# ---------------------------------------------------------------------------------------
# The cases: (kind, claim, expected verdict, tables, settings overrides, text ours must hold)
# ---------------------------------------------------------------------------------------

nan = float("nan")
CASES = [
    # Best alpha at 10: 1.41 sqrt(n), within the factor 1.5; at 11 (1.56 sqrt(n)) it is not.
    ("rpca_alpha", "best_alpha", HOLDS, alpha_sweep({1: [0.5], ROOT: [0.2], 10: [0.1], 100: [0.9]}), {}, "ratio 1.41"),
    ("rpca_alpha", "best_alpha", FAILS, alpha_sweep({1: [0.5], ROOT: [0.2], 11: [0.1], 100: [0.9]}), {}, "ratio 1.56"),
    ("rpca_alpha", "best_alpha", NO_DATA, alpha_sweep({1: [0.5], 10: [0.1], 100: [0.9]}), {}, "alpha 7.07107"),
    # A grid that does not reach beyond the factor cannot tell a best alpha.
    ("rpca_alpha", "best_alpha", NO_DATA, alpha_sweep({ROOT: [0.1], 10: [0.2]}), {}, "an alpha below 4.71"),
    # The mean over trials at sqrt(n): 0.09 holds, 0.11 does not.
    ("rpca_alpha", "recovers_at_sqrt_n", HOLDS, alpha_sweep({1: [0.5], ROOT: [0.05, 0.13]}), {}, "0.09 over 2"),
    ("rpca_alpha", "recovers_at_sqrt_n", FAILS, alpha_sweep({1: [0.01], ROOT: [0.05, 0.17]}), {}, "0.11 over 2"),
    ("rpca_alpha", "recovers_at_sqrt_n", NO_DATA, alpha_sweep({1: [0.05], 100: [0.05]}), {}, "alpha 7.07107"),
    # The mean curve ends at 6x (holds) or 4x (fails) its minimum.
    (
        "rpca_curves",
        "mf_over_overfits",
        HOLDS,
        learning_curves({"mf_l1_over": [[1, 0.01, 0.2, 0.08], [1, 0.01, 0.2, 0.04]]}),
        {},
        "(6.0x its minimum)",
    ),
    (
        "rpca_curves",
        "mf_over_overfits",
        FAILS,
        learning_curves({"mf_l1_over": [[1, 0.01, 0.2, 0.05], [1, 0.01, 0.2, 0.03]]}),
        {},
        "(4.0x its minimum)",
    ),
    ("rpca_curves", "mf_over_overfits", NO_DATA, learning_curves({"dop": [[1, 0.01]]}), {}, "method mf_l1_over"),
    (
        "rpca_curves",
        "mf_over_overfits",
        NO_DATA,
        learning_curves({"dop": [[1, 0.01]]}, methods=["mf_l1_over", "dop"]),
        {},
        "curves of mf_l1_over",
    ),
    # The final mean error, not the best one: 0.09 holds, 0.11 fails although it fell to 0.01.
    (
        "rpca_curves",
        "mf_exact_recovers",
        HOLDS,
        learning_curves({"mf_l1_exact": [[1, 0.5, 0.05], [1, 0.5, 0.13]]}),
        {},
        "0.09",
    ),
    ("rpca_curves", "mf_exact_recovers", FAILS, learning_curves({"mf_l1_exact": [[1, 0.01, 0.11]]}), {}, "0.11"),
    ("rpca_curves", "mf_exact_recovers", NO_DATA, learning_curves({"dop": [[1, 0.01]]}), {}, "method mf_l1_exact"),
    ("rpca_curves", "dop_no_early_stop", HOLDS, learning_curves({"dop": [[1, 0.5, 0.05], [1, 0.5, 0.13]]}), {}, "0.09"),
    ("rpca_curves", "dop_no_early_stop", FAILS, learning_curves({"dop": [[1, 0.01, 0.11]]}), {}, "0.11"),
    ("rpca_curves", "dop_no_early_stop", NO_DATA, learning_curves({"mf_l1_over": [[1, 0.01]]}), {}, "method dop"),
    # Corners: rank <= 3, p <= 0.1 always recovered; rank >= 20, p >= 0.4 never; failures
    # just outside a corner do not count.
    ("rpca_phase", "easy_corner", HOLDS, phase(), PHASE_GRID, "pcp: 1.00 of 4 trials"),
    (
        "rpca_phase",
        "easy_corner",
        FAILS,
        phase(lambda m, r, p, t: r <= 3 and p <= 0.1 and not (m == "pcp" and (r, p, t) == (3, 0.1, 1))),
        PHASE_GRID,
        "pcp: 0.75 of 4 trials",
    ),
    ("rpca_phase", "easy_corner", NO_DATA, phase(methods=("apg", "dop")), PHASE_GRID, "method pcp"),
    (
        "rpca_phase",
        "easy_corner",
        NO_DATA,
        phase(
            drop={(m, 1, 0.1, t) for m in ("apg", "dop") for t in (0, 1)}
            | {(m, 3, 0.1, t) for m in ("apg", "dop") for t in (0, 1)}
        ),
        PHASE_GRID,
        "apg trials with rank <= 3 and p <= 0.1, dop trials",
    ),
    ("rpca_phase", "hard_corner", HOLDS, phase(lambda m, r, p, t: r <= 6), PHASE_GRID, "apg: 0.00 of 2 trials"),
    (
        "rpca_phase",
        "hard_corner",
        FAILS,
        phase(lambda m, r, p, t: m == "dop" and r == 20 and t == 0),
        PHASE_GRID,
        "dop: 0.50 of 2 trials",
    ),
    ("rpca_phase", "hard_corner", NO_DATA, phase(methods=("dop", "pcp")), PHASE_GRID, "method apg"),
    (
        "rpca_phase",
        "hard_corner",
        NO_DATA,
        phase(drop={("dop", 20, 0.4, t) for t in (0, 1)}),
        PHASE_GRID,
        "dop trials with rank >= 20 and p >= 0.4",
    ),
    # DOP's extra grid point counts at a success fraction of exactly 0.5; from one problem it
    # is not significant (McNemar's exact test).
    ("rpca_phase", "dop_region", INCONCLUSIVE, phase(_dop_also({(6, 0.1): (1,)})), PHASE_GRID, "APG 2, DOP 3"),
    # Three more grid points, each from both trials: 6 problems to 0, p = 0.031.
    ("rpca_phase", "dop_region", HOLDS, phase(_dop_also(THREE_MORE)), PHASE_GRID, "APG 2, DOP 5"),
    ("rpca_phase", "dop_region", FAILS, phase(), PHASE_GRID, "APG 2, DOP 2, exact convex program 2 of 12"),
    ("rpca_phase", "dop_region", NO_DATA, phase(methods=("dop", "pcp")), PHASE_GRID, "method apg"),
    # APG without the grid point where DOP fails would make DOP's region look larger.
    (
        "rpca_phase",
        "dop_region",
        NO_DATA,
        phase(drop={("apg", 20, 0.4, 0), ("apg", 20, 0.4, 1)}),
        PHASE_GRID,
        "apg at 1 of 12 grid points (rank 20, p 0.4)",
    ),
    ("rpca_phase", "dop_region", NO_DATA, phase(), {**PHASE_GRID, "ranks": [1, 3, 6, 20, 25]}, "rank 25"),
    ("rpca_phase", "dop_region_exact", HOLDS, phase(_dop_also(THREE_MORE)), PHASE_GRID, "DOP 5"),
    ("rpca_phase", "dop_region_exact", INCONCLUSIVE, phase(_dop_also({(6, 0.1): (0, 1)})), PHASE_GRID, "p = 0.5"),
    ("rpca_phase", "dop_region_exact", FAILS, phase(), PHASE_GRID, "DOP 2, exact convex program 2"),
    ("rpca_phase", "dop_region_exact", NO_DATA, phase(methods=("apg", "dop")), PHASE_GRID, "method pcp"),
    (
        "rpca_phase",
        "dop_region_exact",
        NO_DATA,
        phase(drop={("dop", 6, 0.2, 0), ("dop", 6, 0.2, 1)}),
        PHASE_GRID,
        "dop at 1 of 12 grid points (rank 6, p 0.2)",
    ),
    ("rpca_phase", "apg_matches_exact", HOLDS, phase(), PHASE_GRID, "differs from the exact program's on 0 of 24"),
    (
        "rpca_phase",
        "apg_matches_exact",
        FAILS,
        phase(lambda m, r, p, t: (r <= 3 and p <= 0.1) or (m == "apg" and (r, p, t) == (6, 0.2, 0))),
        PHASE_GRID,
        "on 1 of 24 problems (0 the exact program recovers, 1 only APG), in 1 of 12 grid points; "
        "1 grid points change side of 50%",
    ),
    ("rpca_phase", "apg_matches_exact", NO_DATA, phase(methods=("apg", "dop")), PHASE_GRID, "method pcp"),
    (
        "rpca_phase",
        "apg_matches_exact",
        NO_DATA,
        phase(drop={("pcp", 20, 0.4, 1)}),
        PHASE_GRID,
        "pcp at 1 of 24 problems (rank 20, p 0.4, trial 1)",
    ),
    # Theorem 1: the gap at the smallest gamma against the largest, per alpha.
    ("theory_theorem1", "gap_falls", HOLDS, theorem1(_gaps(a10_g2=[0.05, 0.02])), THEOREM1, "falls in 4 of 4"),
    # The geometric mean falls, but one trial's gap rises.
    ("theory_theorem1", "gap_falls", FAILS, theorem1(_gaps(a10_g2=[0.2, 0.02])), THEOREM1, "alpha 10: 0.1 -> 0.063"),
    ("theory_theorem1", "gap_falls", FAILS, theorem1(_gaps(a10_g2=[0.2, 0.2])), THEOREM1, "alpha 10: 0.1 -> 0.2"),
    (
        "theory_theorem1",
        "gap_falls",
        NO_DATA,
        theorem1({k: v for k, v in _gaps().items() if k != (10.0, 0.001)}),
        THEOREM1,
        "alpha 10 at gamma 0.001",
    ),
    ("theory_theorem1", "gap_falls", NO_DATA, theorem1(_gaps()), {**THEOREM1, "alphas": [1.0, 10.0, 30.0]}, "alpha 30"),
    (
        "theory_theorem1",
        "gap_falls",
        NO_DATA,
        theorem1({(1.0, 0.1): [0.1]}),
        {"alphas": [1.0], "gammas": [0.1]},
        "a second gamma",
    ),
    # Judged on the worst trial (0.005), with the geometric mean beside it.
    ("theory_theorem1", "gap_small", HOLDS, theorem1(_gaps(a10_g2=[1e-4, 0.005])), THEOREM1, "0.005 (alpha 10"),
    # The geometric mean over trials (1e-4 and 0.04 give 0.002) passes; the worst trial does not.
    ("theory_theorem1", "gap_small", FAILS, theorem1(_gaps(a10_g2=[1e-4, 0.04])), THEOREM1, "0.04 (alpha 10, trial 1)"),
    ("theory_theorem1", "gap_small", FAILS, theorem1(_gaps(a10_g2=[0.02, 0.02])), THEOREM1, "0.02"),
    (
        "theory_theorem1",
        "gap_small",
        NO_DATA,
        theorem1({k: v for k, v in _gaps().items() if k[1] != 0.001}),
        THEOREM1,
        "gamma 0.001",
    ),
    ("theory_theorem1", "gap_small", FAILS, theorem1(_gaps(a1_g2=[nan, nan])), THEOREM1, "nan"),
    # Appendix A: every trial within 1e-6 of the closed form, every discrepant one 1e-3 from W^+ b.
    ("theory_weighted_min_norm", "closed_form", HOLDS, weighted(WEIGHTED_OK), {}, "5e-07"),
    (
        "theory_weighted_min_norm",
        "closed_form",
        FAILS,
        weighted({**WEIGHTED_OK, 10.0: [(1e-12, 0.3), (2e-6, 0.3)]}),
        {},
        "2e-06",
    ),
    ("theory_weighted_min_norm", "closed_form", FAILS, weighted({**WEIGHTED_OK, 10.0: [(nan, 0.3)]}), {}, "nan"),
    (
        "theory_weighted_min_norm",
        "closed_form",
        NO_DATA,
        weighted({r: v for r, v in WEIGHTED_OK.items() if r != 100.0}),
        {},
        "weight_ratio 100",
    ),
    # Beside the closed form: an independent solve of eq. 19 and its optimality condition.
    (
        "theory_weighted_min_norm",
        "closed_form",
        FAILS,
        weighted(WEIGHTED_OK, dist_independent=1e-12, optimality=1e-3),
        {},
        "optimality condition violated by 0.001",
    ),
    # A run that had not settled: the gate turns the yes into "not converged".
    (
        "theory_weighted_min_norm",
        "closed_form",
        NOT_CONVERGED,
        weighted(WEIGHTED_OK, last_change=0.01),
        {},
        "would read 'yes'",
    ),
    # The control of eq. 18's condition: from a random start the limit must miss the closed form.
    (
        "theory_weighted_min_norm",
        "random_start",
        HOLDS,
        weighted(WEIGHTED_OK, RANDOM_OK),
        {},
        "min distance to the closed form 3",
    ),
    (
        "theory_weighted_min_norm",
        "random_start",
        FAILS,
        weighted(WEIGHTED_OK, [(1e-9, 1e-14), (3.0, 1e-13)]),
        {},
        "min distance to the closed form 1e-09",
    ),
    ("theory_weighted_min_norm", "random_start", FAILS, weighted(WEIGHTED_OK, [(7.5, 1e-3)]), {}, "predicts"),
    ("theory_weighted_min_norm", "random_start", NO_DATA, weighted(WEIGHTED_OK), {}, "random start"),
    # Theorem 1 in the eigenvalue dynamics: the reduction, deeper gammas, the half step, the lambda scan.
    ("theory_theorem1", "reduction", HOLDS, theorem1_deep(), THEOREM1, "1e-10"),
    ("theory_theorem1", "reduction", FAILS, theorem1_deep(vs_matrix=1e-3), THEOREM1, "0.001"),
    ("theory_theorem1", "reduction", NO_DATA, theorem1_deep(drop=("eigenvalues",)), THEOREM1, "eigenvalue runs"),
    ("theory_theorem1", "gap_small_deep", HOLDS, theorem1_deep(), THEOREM1, "gamma = 1e-09"),
    ("theory_theorem1", "gap_small_deep", FAILS, theorem1_deep(gap=0.02), THEOREM1, "10: 0.02"),
    ("theory_theorem1", "gap_small_deep", NO_DATA, theorem1(_gaps()), THEOREM1, "eigenvalue runs"),
    ("theory_theorem1", "gap_small_deep", NOT_CONVERGED, theorem1_deep(last_change=0.05), THEOREM1, "4 of 4 runs"),
    ("theory_theorem1", "half_step", HOLDS, theorem1_deep(), THEOREM1, "0.0001"),
    ("theory_theorem1", "half_step", FAILS, theorem1_deep(vs_half=0.05), THEOREM1, "0.05"),
    ("theory_theorem1", "half_step", NO_DATA, theorem1_deep(drop=("eigenvalues",)), THEOREM1, "half-step"),
    ("theory_theorem1", "lambda_scan", HOLDS, theorem1_deep(), THEOREM1, "4 of 4 (alpha, trial) informative"),
    # A wrong lambda fits as well: the gap at c = 1/2, where the solution moves, is small too.
    (
        "theory_theorem1",
        "lambda_scan",
        FAILS,
        theorem1_deep({0.5: (1e-5, 0.1), 1.0: (1e-4, 0.0), 2.0: (0.08, 0.2)}),
        THEOREM1,
        "rejected in 4 of 8",
    ),
    # Only c = 2 moves the solution; c = 1/2 (unmoved, small gap) is not held against it.
    (
        "theory_theorem1",
        "lambda_scan",
        HOLDS,
        theorem1_deep({0.5: (1e-4, 0.0), 1.0: (1e-4, 0.0), 2.0: (0.08, 0.2)}),
        THEOREM1,
        "rejected in 4 of 4",
    ),
    # c = 1 itself does not fit.
    (
        "theory_theorem1",
        "lambda_scan",
        FAILS,
        theorem1_deep({0.5: (0.05, 0.1), 1.0: (0.02, 0.0), 2.0: (0.08, 0.2)}),
        THEOREM1,
        "at c = 1 in 0 of them",
    ),
    # The convex solution does not move with lambda: nothing to tell apart.
    (
        "theory_theorem1",
        "lambda_scan",
        NO_DATA,
        theorem1_deep({0.5: (0.05, 0.0), 1.0: (1e-4, 0.0), 2.0: (0.08, 0.0)}),
        THEOREM1,
        "cannot tell lambda = 1/alpha",
    ),
    ("theory_theorem1", "lambda_scan", NO_DATA, theorem1(_gaps()), THEOREM1, "c = 1/2, 1 and 2"),
    # The matrix claims' gate: one unsettled run.
    (
        "theory_theorem1",
        "gap_small",
        NOT_CONVERGED,
        {"summary": theorem1(_gaps())["summary"].assign(residual=[0.0] * 11 + [0.5])},
        THEOREM1,
        "1 of 4 runs",
    ),
    # Every trial at every alpha of the grid within 0.1 of the convex solution; 0.1 itself is not.
    (
        "theory_alpha_lambda",
        "agree_across_alpha",
        HOLDS,
        alpha_lambda({1.0: [0.099], ROOT: [0.05], 100.0: [0.0]}),
        LAMBDA_GRID,
        "3 of 3 alphas within 0.1; 0 of 3 runs trivial (both X near 0); at sqrt(n): 0.05",
    ),
    (
        "theory_alpha_lambda",
        "agree_across_alpha",
        FAILS,
        alpha_lambda({1.0: [0.01, 0.1], ROOT: [0.05], 100.0: [0.0]}),
        LAMBDA_GRID,
        "2 of 3 alphas",
    ),
    (
        "theory_alpha_lambda",
        "agree_across_alpha",
        FAILS,
        alpha_lambda({1.0: [0.01, nan], ROOT: [0.05], 100.0: [0.0]}),
        LAMBDA_GRID,
        "1: inf",
    ),
    (
        "theory_alpha_lambda",
        "agree_across_alpha",
        NO_DATA,
        alpha_lambda({1.0: [0.01], ROOT: [0.05]}),
        LAMBDA_GRID,
        "alpha 100",
    ),
]


def _case_id(case) -> str:
    kind, key, verdict, *_ = case
    return f"{kind}:{key}:{verdict.replace(' ', '_')}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_claim_on_made_up_tables(case):
    kind, key, expected, tables, overrides, text = case
    verdict, ours = _judge(kind, key, tables["summary"], tables.get("curves"), **overrides)
    assert (verdict, text in ours) == (expected, True), ours


def test_every_matrix_claim_has_a_yes_a_no_and_a_no_data_case():
    from test_alpha_lambda import CLAIMS as ALPHA_LAMBDA  # each read yes, no and no data there

    have = {(kind, key, verdict) for kind, key, verdict, *_ in CASES}
    have |= {("theory_alpha_lambda", key, v) for key in ALPHA_LAMBDA for v in (HOLDS, FAILS, NO_DATA)}
    for kind in MATRIX_KINDS:
        claims = registry().claims(kind)
        assert claims
        for claim in claims:
            for verdict in (HOLDS, FAILS, NO_DATA):
                assert (kind, claim.key, verdict) in have, (kind, claim.key, verdict)


def test_every_claim_reads_with_its_kinds_defaults():
    reg = registry()
    for kind in reg.kind_module:
        settings = _settings(kind)
        for claim in reg.claims(kind):
            text = claim.describe(settings)
            assert "{" not in text and text, (kind, claim.key)


def test_thresholds_are_written_once():
    """A claim's numbers come from its limits: the text shows them, the check uses them."""
    (claim,) = [c for c in registry().claims("rpca_curves") if c.key == "dop_no_early_stop"]
    assert "< 0.1)" in claim.describe(_settings("rpca_curves"))
    tables = learning_curves({"dop": [[1, 0.5, 0.15]]})
    assert claim.check(claim.settings(_settings("rpca_curves")), tables)[1] is False
    looser = dataclasses.replace(claim, limits={"max_error": 0.2})
    assert "< 0.2)" in looser.describe(_settings("rpca_curves"))
    assert looser.check(looser.settings(_settings("rpca_curves")), tables)[1] is True
