"""The alpha-lambda check (theory_alpha_lambda): the engine run to the convergence gate, the
Pareto test, the objective against cvxpy, and each claim's negative control and missing data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from implicit_bias.convex import nearest_lambda, pareto_dominated, pcp_terms, psd_pcp
from implicit_bias.experiments.theory import FAMILY
from implicit_bias.rpca import dop_descent
from implicit_bias.rpca_runs import dop_stationarity_residual, dop_until_stationary
from implicit_bias.scorecard import FAILS, HOLDS, NO_DATA, NOT_CONVERGED, _judge

CLAIMS = {c.key: c for c in FAMILY.claims["theory_alpha_lambda"]}
ALPHAS = [1.0, 10.0]
SETTINGS = {
    "kind": "theory_alpha_lambda",
    "n": 4,
    "rank": 1,
    "p": 0.1,
    "alpha_min": 1.0,
    "alpha_max": 10.0,
    "alpha_num": 2,
    "init_scale": 1e-4,
    "trials": 2,
    "starts": [{"init": "balanced", "scale": 1e-6}, {"init": "balanced", "scale": 1e-2}],
    "start_trials": 1,
    "residual_tol": 1e-3,
    "change_tol": 1e-3,
}


def _rows(**over):
    """A summary of converged, agreeing, non-dominated runs at both alphas of SETTINGS (n = 4,
    so sqrt(n) = 2 joins the grid) and two balanced starts; ``over`` sets columns."""
    rows = []
    from implicit_bias.rpca_runs import sweep_alphas

    for alpha in sweep_alphas(SETTINGS):
        for start, scale, trials in (("gaussian", 1e-4, (0, 1)), ("balanced", 1e-6, (0,)), ("balanced", 1e-2, (0,))):
            for t in trials:
                rows.append(
                    {
                        "method": "dop",
                        "start": start,
                        "init_scale": scale,
                        "alpha": alpha,
                        "trial": t,
                        "rel_dist": 0.01 if scale < 1e-3 else 0.05,
                        "objective_gap": 1e-4,
                        "dominated": False,
                        "best_lambda_alpha": 1.05,
                        "trivial": False,
                        "residual": 1e-6,
                        "last_change": 1e-5,
                        "diverged": False,
                    }
                )
    frame = pd.DataFrame(rows)
    for key, value in over.items():
        frame[key] = value
    return frame


def _verdict(key, summary):
    claim = CLAIMS[key]
    return _judge(claim, "quick", SETTINGS, {"summary": summary})


@pytest.mark.parametrize("key", list(CLAIMS))
def test_claims_hold_on_good_rows(key):
    ours, verdict = _verdict(key, _rows())
    assert verdict == HOLDS, ours
    assert "A = identity" in ours


@pytest.mark.parametrize(
    "key, column, value",
    [
        ("agree_across_alpha", "rel_dist", 0.5),
        ("objective_gap", "objective_gap", 0.2),
        ("pareto", "dominated", True),
        ("best_lambda", "best_lambda_alpha", 1.4),
    ],
)
def test_negative_controls(key, column, value):
    ours, verdict = _verdict(key, _rows(**{column: value}))
    assert verdict == FAILS, ours


def test_start_sweep_negative_control():
    rows = _rows()
    rows.loc[rows["init_scale"] == 1e-6, "rel_dist"] = 0.5  # the smaller start lands farther
    ours, verdict = _verdict("smaller_start_closer", rows)
    assert verdict == FAILS, ours


@pytest.mark.parametrize("key", list(CLAIMS))
def test_missing_data(key):
    rows = _rows()
    rows = rows[~np.isclose(rows["alpha"], 10.0)]  # an alpha of the grid absent
    ours, verdict = _verdict(key, rows)
    assert verdict == NO_DATA, ours


@pytest.mark.parametrize("key", list(CLAIMS))
def test_gate_flags_unconverged(key):
    ours, verdict = _verdict(key, _rows(last_change=0.05))
    assert verdict == NOT_CONVERGED, ours


def test_trivial_runs_are_counted_and_left_out():
    rows = _rows()
    far = np.isclose(rows["alpha"], 10.0)
    rows.loc[far, "trivial"] = True
    rows.loc[far, "rel_dist"] = 5.0  # would fail, but trivial
    ours, verdict = _verdict("agree_across_alpha", rows)
    assert verdict == HOLDS, ours
    assert "2 of 6 runs trivial" in ours


def test_pareto_test_constructed_points():
    frontier = [(0.0, 10.0), (1.0, 6.0), (2.0, 3.0), (4.0, 1.0)]
    assert pareto_dominated((2.5, 3.5), frontier)  # beaten by (2, 3) on both
    assert not pareto_dominated((1.5, 4.0), frontier)  # between frontier points, below them
    assert not pareto_dominated((2.0, 3.0), frontier)  # a frontier point itself
    assert not pareto_dominated((2.0, 3.0), [(2.0 - 1e-9, 3.0 - 1e-9)])  # within the tolerance


def test_nearest_lambda_refines_between_grid_points():
    lambdas = np.array([0.5, 1.0, 2.0, 4.0])
    grid = np.stack([np.eye(2) * np.log(lam) for lam in lambdas])
    lam, dist = nearest_lambda(np.eye(2) * np.log(1.5), grid, lambdas)
    assert 1.0 < lam < 2.0 and dist > 0


def test_engine_matches_dop_descent_and_stops_at_gate():
    torch.manual_seed(0)
    B, n = 4, 8
    Y = torch.randn(B, n, n, dtype=torch.float64)
    U0 = 0.1 * torch.randn(B, n, n, dtype=torch.float64)
    g0 = 0.1 * torch.randn(B, n, n, dtype=torch.float64)
    alpha = torch.tensor([1.0, 3.0, 10.0, 30.0], dtype=torch.float64)
    ref = dop_descent(Y, U0, g0, g0.clone(), alpha, 1e-3, steps=500, record_every=100)
    out = dop_until_stationary(Y, U0, g0, g0.clone(), alpha, 1e-3, steps=500)
    np.testing.assert_allclose(out["X"], ref.X.numpy(), atol=1e-12)
    np.testing.assert_allclose(out["S"], ref.S.numpy(), atol=1e-12)
    assert (out["steps_run"] == 500).all()
    # A deliberately short run is outside the gate; the same runs, longer and checked, stop early.
    short = dop_until_stationary(Y, U0, g0, g0.clone(), alpha, 1e-3, steps=50)
    assert ((short["residual"] > 1e-3) | (short["last_change"] > 1e-3)).all()
    long = dop_until_stationary(
        Y, U0, g0, g0.clone(), alpha, 1e-2, steps=20000, check_every=100, residual_tol=1e-2, change_tol=1e-2
    )
    stopped = long["steps_run"] < 20000
    assert stopped.any()
    assert (long["residual"][stopped] <= 1e-2).all() and (long["last_change"][stopped] <= 1e-2).all()


def test_residual_is_zero_at_a_stationary_point():
    n = 5
    U = torch.zeros(1, n, n, dtype=torch.float64)
    g = torch.ones(1, n, n, dtype=torch.float64)
    h = torch.zeros(1, n, n, dtype=torch.float64)
    Y = g * g  # R = 0
    assert float(dop_stationarity_residual(U, g, h, Y)) == 0.0
    assert float(dop_stationarity_residual(U, g, h, 2 * Y)) > 0.0


def test_objective_gap_against_cvxpy():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(3)
    n, lam = 8, 0.3
    L = rng.standard_normal((n, 2))
    Y = L @ L.T + np.where(rng.random((n, n)) < 0.1, rng.normal(0, 5, (n, n)), 0.0)
    sol = psd_pcp(torch.from_numpy(Y)[None], torch.tensor([lam], dtype=torch.float64), tol=1e-8)
    X = cp.Variable((n, n), PSD=True)
    prob = cp.Problem(cp.Minimize(cp.trace(X) + lam * cp.sum(cp.abs(Y - X))))
    prob.solve()
    t, l1 = pcp_terms(sol.X[0].numpy(), Y)
    assert abs(t + lam * l1 - prob.value) <= 1e-5 * abs(prob.value)
    # A feasible point off the optimum: its relative gap, as the run computes it, is positive.
    t2, l12 = pcp_terms(np.zeros((n, n)), Y)
    assert (t2 + lam * l12 - prob.value) / abs(prob.value) > 0
