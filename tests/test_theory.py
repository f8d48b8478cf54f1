"""Checks of the theory module: gradients, closed forms, convex solvers, task glue."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DEVICES, run_snakemake
from oracles import convex_robust_sensing, convex_rpca_psd
from scipy.optimize import linprog

from implicit_bias.config import ConfigError, validate_config
from implicit_bias.sensing import flatten_operator, sense, sense_adjoint
from implicit_bias.theory import (
    commuting_sensing_problem,
    preconditioned_descent,
    sensing_dop_descent,
    sensing_dop_gradients,
    sensing_dop_objective,
    weighted_min_norm,
)


def _instance(seed=0, n=5, m=10, rank=1, p=0.2, outlier_std=3.0):
    return commuting_sensing_problem(n, m, rank, p, np.random.default_rng(seed), outlier_std)


# ---------------------------------------------------------------------------------------
# Theorem 1: commuting measurements
# ---------------------------------------------------------------------------------------


def test_commuting_problem_structure():
    inst = _instance(n=6, m=12, rank=2, p=0.25)
    A = inst.A
    np.testing.assert_allclose(A, A.transpose(0, 2, 1), atol=1e-12)
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(A[i] @ A[j], A[j] @ A[i], atol=1e-10)
    np.testing.assert_allclose(inst.basis.T @ inst.basis, np.eye(6), atol=1e-12)
    eig = np.linalg.eigvalsh(inst.X)
    assert eig.min() > -1e-10 and (eig > 1e-8).sum() == 2
    assert np.count_nonzero(inst.s) == 3 and np.allclose(np.abs(inst.s[inst.s != 0]), 3.0)
    np.testing.assert_allclose(np.einsum("aij,ij->a", A, inst.X) + inst.s, inst.y)


def test_operator_and_adjoint_with_several_points_per_operator():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(2, 7, 4, 4, generator=gen, dtype=torch.float64)
    X = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    r = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    A_flat = flatten_operator(A)
    lhs = (sense(A_flat, X) * r).sum(-1)
    rhs = (X * sense_adjoint(A_flat, r)).sum((-2, -1))
    torch.testing.assert_close(lhs, rhs)
    torch.testing.assert_close(sense(A_flat, X)[1, 2, 5], (A[1, 5] * X[1, 2]).sum())


@pytest.mark.parametrize("symmetric", [True, False])
def test_sensing_gradients_match_autograd(symmetric):
    gen = torch.Generator().manual_seed(1)
    P, K, n, m = 2, 3, 4, 6
    A = torch.randn(P, m, n, n, generator=gen, dtype=torch.float64)
    if symmetric:
        A = A + A.mT
    y = torch.randn(P, m, generator=gen, dtype=torch.float64)
    U = torch.randn(P, K, n, n, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randn(P, K, m, generator=gen, dtype=torch.float64, requires_grad=True)
    h = torch.randn(P, K, m, generator=gen, dtype=torch.float64, requires_grad=True)
    sensing_dop_objective(U, g, h, A, y).sum().backward()
    gU, gg, gh = sensing_dop_gradients(U.detach(), g.detach(), h.detach(), A, y)
    torch.testing.assert_close(gU, U.grad)
    torch.testing.assert_close(gg, g.grad)
    torch.testing.assert_close(gh, h.grad)


def test_descent_takes_gradient_steps_with_discrepant_rates():
    """One step of the descent equals U - tau grad_U, (g, h) - alpha tau grad_(g, h)."""
    inst = _instance(seed=3)
    A = torch.from_numpy(inst.A)[None]
    y = torch.from_numpy(inst.y)[None]
    gamma, alpha, lr = torch.tensor([0.3, 0.5]), torch.tensor([2.0, 7.0]), 1e-2
    res = sensing_dop_descent(A, y, gamma, alpha, lr, steps=1, record_every=1)
    n, m = inst.A.shape[-1], inst.y.shape[0]
    U0 = gamma.double()[None, :, None, None] * torch.eye(n, dtype=torch.float64)
    g0 = gamma.double()[None, :, None].expand(1, 2, m)
    gU, gg, gh = sensing_dop_gradients(U0, g0, g0, A, y)
    a = alpha.double()[None, :, None]
    U1, g1, h1 = U0 - lr * gU, g0 - a * lr * gg, g0 - a * lr * gh
    torch.testing.assert_close(res.X, U1 @ U1.mT)
    torch.testing.assert_close(res.S, g1 * g1 - h1 * h1)
    # The recorded objective at step 0: tr(gamma^2 I) + 0.
    torch.testing.assert_close(res.curves["objective"][0], (gamma.double() ** 2 * n)[None])


def test_descent_stays_in_the_shared_eigenbasis():
    """With commuting A_i and U0 = gamma I, X stays diagonal in V (the proof's Lemma 2)."""
    inst = _instance(seed=4)
    res = sensing_dop_descent(
        torch.from_numpy(inst.A)[None],
        torch.from_numpy(inst.y)[None],
        torch.tensor([1e-2]),
        torch.tensor([3.0]),
        2e-3,
        3000,
        record_every=1000,
    )
    Z = inst.basis.T @ res.X[0, 0].numpy() @ inst.basis
    off = Z - np.diag(np.diag(Z))
    assert np.abs(off).max() < 1e-10 * np.abs(Z).max()
    assert np.diag(Z).min() >= 0


def _lp_in_eigen_coordinates(inst, lam):
    """min 1^T x + lam ||s||_1 s.t. D x + s = y, x >= 0: the SDP restricted to the shared basis."""
    D, y = inst.eigenvalues, inst.y
    m, n = D.shape
    c = np.r_[np.ones(n), lam * np.ones(2 * m)]
    res = linprog(c, A_eq=np.c_[D, np.eye(m), -np.eye(m)], b_eq=y, bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("alpha", [1.0, 10.0, 30.0])
def test_convex_sensing_matches_linear_program(alpha):
    """For commuting A_i the SDP reduces to an LP on the eigenvalues (an independent oracle)."""
    inst = _instance(seed=5, n=6, m=12, rank=2, p=0.25)
    sol = convex_robust_sensing(inst.A, inst.y, 1.0 / alpha)
    assert sol.status.startswith("optimal")
    assert sol.value == pytest.approx(_lp_in_eigen_coordinates(inst, 1.0 / alpha), rel=1e-6)
    resid = np.einsum("aij,ij->a", inst.A, sol.X) + sol.s - inst.y
    assert np.linalg.norm(resid) < 1e-6 * np.linalg.norm(inst.y)
    assert np.linalg.eigvalsh(sol.X).min() > -1e-7
    assert sol.value == pytest.approx(np.trace(sol.X) + np.abs(sol.s).sum() / alpha, rel=1e-6)


def test_small_initialization_approaches_the_convex_solution():
    """Theorem 1 at a tiny size: the objective gap falls with gamma and is small at 1e-4."""
    inst = _instance(seed=6, n=4, m=8, rank=1, p=0.25)
    alpha = 10.0
    res = sensing_dop_descent(
        torch.from_numpy(inst.A)[None],
        torch.from_numpy(inst.y)[None],
        torch.tensor([1e-1, 1e-4]),
        torch.tensor([alpha]),
        2e-3,
        20000,
        record_every=20000,
    )
    best = convex_robust_sensing(inst.A, inst.y, 1.0 / alpha).value
    gap = (res.curves["objective_feasible"][-1, 0].numpy() - best) / best
    assert (gap > -1e-6).all()
    assert gap[1] < gap[0] and gap[1] < 1e-2
    assert (res.curves["residual"][-1, 0] < 1e-6).all()


# ---------------------------------------------------------------------------------------
# Weighted minimum norm
# ---------------------------------------------------------------------------------------


def _least_squares(seed=0, rows=6, dim=15, batch=3):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(batch, rows, dim, generator=gen, dtype=torch.float64)
    b = torch.randn(batch, rows, generator=gen, dtype=torch.float64)
    weights = 30.0 ** (torch.rand(batch, dim, generator=gen, dtype=torch.float64) - 0.5)
    return W, b, weights


def test_weighted_min_norm_closed_form_is_the_weighted_least_norm_interpolant():
    W, b, weights = _least_squares()
    theta = weighted_min_norm(W, b, weights)
    torch.testing.assert_close((W @ theta.unsqueeze(-1)).squeeze(-1), b)
    # Independent route (paper eqs. 20-22): theta = Lambda^1/2 pinv(W Lambda^1/2) b.
    root = weights.sqrt()
    oracle = root * (torch.linalg.pinv(W * root.unsqueeze(-2)) @ b.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(theta, oracle)
    # Any other interpolant, theta + a null-space direction, has a larger weighted norm.
    null = torch.linalg.svd(W, full_matrices=True).Vh[:, -1]
    for eps in (1e-3, -1e-3):
        other = theta + eps * null
        assert bool(((other**2 / weights).sum(-1) > (theta**2 / weights).sum(-1)).all())
    # Lambda = c I gives the plain minimum-norm solution.
    plain = weighted_min_norm(W, b, torch.full_like(weights, 7.0))
    torch.testing.assert_close(plain, (torch.linalg.pinv(W) @ b.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("device", DEVICES)
def test_preconditioned_descent_converges_to_the_closed_form(device):
    W, b, weights = (t.to(device) for t in _least_squares(seed=2))
    closed = weighted_min_norm(W, b, weights)
    plain = (torch.linalg.pinv(W) @ b.unsqueeze(-1)).squeeze(-1)
    res = preconditioned_descent(
        W, b, weights, 1.0, 20000, record_every=1000, references={"closed_form": closed, "min_norm": plain}
    )
    assert not res.diverged.any()
    assert bool((res.curves["dist_closed_form"][-1] < 1e-8).all())
    assert bool((res.curves["dist_min_norm"][-1] > 1e-2).all())
    torch.testing.assert_close(res.theta, closed, rtol=1e-7, atol=1e-9)
    assert res.curves["dist_closed_form"].shape == (21, 3)


def test_preconditioned_descent_rejects_unstable_steps():
    W, b, weights = _least_squares()
    with pytest.raises(ValueError, match="step"):
        preconditioned_descent(W, b, weights, 2.5, 10)


# ---------------------------------------------------------------------------------------
# Robust PCA with a PSD low-rank part
# ---------------------------------------------------------------------------------------


def test_convex_rpca_psd_known_solutions():
    rng = np.random.default_rng(7)
    G = rng.standard_normal((8, 2))
    Y = G @ G.T
    # lambda >= 1 and Y PSD: X = Y is optimal (certificate Gamma = I - lambda Z, Z = I/lambda).
    sol = convex_rpca_psd(Y, 1.5, solver="CLARABEL")
    assert sol.value == pytest.approx(np.trace(Y), rel=1e-6)
    # lambda ||sign(Y)||_2 <= 1: X = 0 is optimal, with value lambda ||Y||_1.
    lam = 0.9 / np.linalg.norm(np.sign(Y), 2)
    for solver in ("CLARABEL", "SCS"):
        sol = convex_rpca_psd(Y, lam, solver=solver)
        assert sol.value == pytest.approx(lam * np.abs(Y).sum(), rel=1e-5)
        np.testing.assert_allclose(sol.X + sol.s, Y)


# ---------------------------------------------------------------------------------------
# Task glue: configuration, jobs, determinism
# ---------------------------------------------------------------------------------------


def _settings(schema, kind, **overrides):
    config = {"size": "paper", "sweeps": {"x": {"kind": kind, **overrides}}}
    return validate_config(config, schema)["resolved"]["x"]


def test_config_rejects_a_determined_least_squares_problem(schema):
    with pytest.raises(ConfigError, match="dim"):
        _settings(schema, "theory_weighted_min_norm", rows=10, dim=10)


def test_default_config_has_the_theory_sweeps(schema, base_config):
    from implicit_bias.experiments import figures

    config = validate_config(base_config, schema)
    for name in ("theory_theorem1", "theory_weighted_min_norm", "theory_alpha_lambda"):
        assert config["resolved"][name]["kind"] == name
        assert figures(config)[name]["plot"] == name


def test_theorem1_job_is_deterministic_and_reports_the_contract(schema, tmp_path):
    from implicit_bias.experiments import run_job, sweep_jobs

    s = _settings(
        schema,
        "theory_theorem1",
        n=4,
        m=8,
        rank=1,
        alphas=[10.0],
        gammas=[0.1, 1e-3],
        trials=2,
        steps=300,
        record_every=100,
    )
    jobs = sweep_jobs(s)
    assert list(jobs) == ["trials~2"]  # every trial in one batch
    a, curves = run_job(sweep="t", settings=s, job=jobs["trials~2"], outdir=tmp_path / "a", seed=1, progress=False)
    b, _ = run_job(sweep="t", settings=s, job=jobs["trials~2"], outdir=tmp_path / "b", seed=1, progress=False)
    cols = ["gamma", "alpha", "lambda", "objective_gap", "residual", "last_change", "dist_convex"]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
    assert set(a["dynamics"]) == {"matrix", "eigenvalues", "eigenvalues, half step"}
    a = a[a["dynamics"] == "matrix"]
    assert list(a["trial"]) == [0, 0, 1, 1] and list(a["gamma"]) == [0.1, 1e-3, 0.1, 1e-3]
    assert (a["lambda"] == 0.1).all() and a["seed"].nunique() == 2
    assert set(curves["iteration"]) == {0, 100, 200, 300}
    assert (tmp_path / "a" / "summary.csv").exists()
    # A trial's numbers do not depend on the batch it runs in (to rounding).
    one = {**s, "trials": 1}
    (job,) = sweep_jobs(one).values()
    c, _ = run_job(sweep="t", settings=one, job=job, outdir=tmp_path / "c", seed=1, progress=False)
    c = c[c["dynamics"] == "matrix"]
    assert list(c["seed"]) == list(a["seed"][:2])
    np.testing.assert_allclose(c[cols].to_numpy(), a[cols].to_numpy()[:2], rtol=1e-9, atol=1e-12)


def test_weighted_job_contrasts_plain_and_discrepant_rates(schema, tmp_path):
    from implicit_bias.experiments import run_job, sweep_jobs

    s = _settings(
        schema,
        "theory_weighted_min_norm",
        rows=4,
        dim=10,
        trials=2,
        steps=3000,
        record_every=500,
        weight_ratios=[1.0, 100.0],
    )
    (job,) = sweep_jobs(s).values()
    summary, _ = run_job(sweep="w", settings=s, job=job, outdir=tmp_path, seed=0, progress=False)
    random = summary[summary["start"] == "random"]
    assert len(random) == 4 and (random["dist_closed_form"] > 1e-2).all() and (random["dist_predicted"] < 1e-8).all()
    summary = summary[summary["start"] == "zero"]
    assert (summary["dist_closed_form"] < 1e-6).all() and (summary["optimality"] < 1e-8).all()
    plain = summary[summary["weight_ratio"] == 1.0]
    skewed = summary[summary["weight_ratio"] == 100.0]
    assert (plain["dist_min_norm"] < 1e-6).all() and (skewed["dist_min_norm"] > 1e-2).all()


def test_alpha_lambda_job_runs_every_alpha_with_lambda_its_inverse(schema, tmp_path):
    from implicit_bias.experiments import run_job, sweep_jobs

    s = _settings(
        schema, "theory_alpha_lambda", n=8, rank=1, alpha_num=2, trials=1, steps=50, record_every=25, starts=[]
    )
    (job,) = sweep_jobs(s).values()
    summary, curves = run_job(sweep="al", settings=s, job=job, outdir=tmp_path, seed=0, progress=False)
    assert sorted(summary["alpha"]) == pytest.approx([1.0, math.sqrt(8), 100.0])
    np.testing.assert_allclose(summary["lambda"], 1.0 / summary["alpha"])
    assert {"rel_dist", "rel_err_X", "rel_err_X_convex", "objective_gap"} <= set(summary.columns)
    assert (summary["objective_gap"] > -1e-4).all()
    assert set(curves["alpha"]) == set(summary["alpha"])


@pytest.mark.slow
def test_theory_figures_at_smoke_size(smoke_run, tmp_path):
    targets = [f"figures/{f}.png" for f in ("theory_theorem1", "theory_weighted_min_norm", "theory_alpha_lambda")]
    # On a copy of the session's smoke run (conftest.smoke_run), which made them.
    run = smoke_run.copy(tmp_path / "run")
    run_snakemake(run, "--cores", "1", "--config", "size=smoke", "--", *targets)
    for t in targets:
        assert (run / t).stat().st_size > 0


# ---------------------------------------------------------------------------------------
# Theorem 1 in the eigenvalues; Appendix A's independent solve and its control
# ---------------------------------------------------------------------------------------


def test_eigenvalue_dynamics_are_the_matrix_dynamics():
    from implicit_bias.theory import commuting_dop_descent

    insts = [_instance(seed=s, n=5, m=10, rank=1) for s in (0, 1)]
    A = torch.from_numpy(np.stack([i.A for i in insts]))
    D = torch.from_numpy(np.stack([i.eigenvalues for i in insts]))
    y = torch.from_numpy(np.stack([i.y for i in insts]))
    gamma, alpha = torch.tensor([1e-1, 1e-4, 1e-2]), torch.tensor([1.0, 3.0, 10.0])
    full = sensing_dop_descent(A, y, gamma, alpha, 2e-3, 3000, record_every=1000)
    eig = commuting_dop_descent(D, y, gamma, alpha, 2e-3, 3000, record_every=1000)
    for p, inst in enumerate(insts):
        V = torch.from_numpy(inst.basis)
        for k in range(3):
            for x, X in ((eig.X, full.X), (eig.X_snapshot, full.X_snapshot)):
                np.testing.assert_allclose((V * x[p, k]) @ V.T, X[p, k], atol=1e-10)
    np.testing.assert_allclose(eig.S, full.S, atol=1e-10)
    for name in full.curves:
        np.testing.assert_allclose(eig.curves[name], full.curves[name], rtol=1e-8, atol=1e-12)


def test_snapshot_is_the_iterate_at_ninety_percent_of_the_steps():
    from implicit_bias.theory import commuting_dop_descent

    inst = _instance(n=4, m=8)
    D, y = torch.from_numpy(inst.eigenvalues[None]), torch.from_numpy(inst.y[None])
    run = commuting_dop_descent(D, y, torch.tensor([1e-2]), torch.tensor([3.0]), 1e-2, 500, record_every=100)
    short = commuting_dop_descent(D, y, torch.tensor([1e-2]), torch.tensor([3.0]), 1e-2, 450, record_every=50)
    np.testing.assert_array_equal(run.X_snapshot, short.X)


def test_eq19_independent_solve_and_optimality_condition():
    from implicit_bias.experiments.theory import eq19_independent, eq19_optimality

    W, b, weights = _least_squares(batch=1)
    W, b, w = W[0].numpy(), b[0].numpy(), weights[0].numpy()
    closed = weighted_min_norm(*(torch.from_numpy(v)[None] for v in (W, b, w)))[0].numpy()
    independent = eq19_independent(W, b, w)
    np.testing.assert_allclose(independent, closed, rtol=1e-10, atol=1e-12)
    assert eq19_optimality(W, closed, w) < 1e-10
    # The plain minimum-norm interpolant is feasible but not optimal for Lambda != I.
    plain = np.linalg.pinv(W) @ b
    assert eq19_optimality(W, plain, w) > 1e-2


def test_random_start_converges_to_the_start_plus_the_weighted_correction():
    W, b, weights = _least_squares()
    theta0 = torch.from_numpy(np.random.default_rng(5).standard_normal(weights.shape))
    res = preconditioned_descent(W, b, weights, 1.0, 20000, record_every=5000, theta0=theta0)
    predicted = theta0 + weighted_min_norm(W, b - (W @ theta0.unsqueeze(-1)).squeeze(-1), weights)
    np.testing.assert_allclose(res.theta, predicted, atol=1e-8)
    # ... which is not the closed form: the theorem needs theta0 = 0.
    assert (torch.linalg.vector_norm(res.theta - weighted_min_norm(W, b, weights), dim=-1) > 1e-2).all()
