"""Robust PCA: the generator, DOP and MF-l1 against autograd, determinism, divergence."""

import math

import numpy as np
import pytest
import torch
from conftest import DEVICES

from implicit_bias.descent import record_steps
from implicit_bias.experiments import run_job
from implicit_bias.rpca import (
    dop_descent,
    dop_gradients,
    dop_objective,
    mf_l1_descent,
    mf_l1_objective,
    mf_l1_subgradient,
    relative_error,
    rpca_problem,
)
from implicit_bias.seeding import numpy_rng, trial_seed


def _random_state(B=3, n=6, k=6, seed=0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    f = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64).to(device)  # noqa: E731
    return f(B, n, k), f(B, n, n), f(B, n, n), f(B, n, n)


@pytest.mark.parametrize("device", DEVICES)
def test_dop_gradients_match_autograd(device):
    U, g, h, Y = _random_state(device=device)
    U.requires_grad_(True), g.requires_grad_(True), h.requires_grad_(True)
    dop_objective(U, g, h, Y).sum().backward()
    gU, gg, gh = dop_gradients(U.detach(), g.detach(), h.detach(), Y)
    torch.testing.assert_close(gU, U.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg, g.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gh, h.grad, rtol=1e-12, atol=1e-12)


def test_dop_gradients_nonsymmetric_target_and_thin_factor():
    # S* is not symmetric, so the residual is not either: the U-gradient must symmetrize it.
    U, g, h, Y = _random_state(n=7, k=3, seed=4)
    assert not torch.allclose(Y, Y.mT)
    U.requires_grad_(True)
    dop_objective(U, g, h, Y).sum().backward()
    torch.testing.assert_close(dop_gradients(U.detach(), g, h, Y)[0], U.grad)


def test_dop_descent_step_is_eq6():
    U, g, h, Y = _random_state(B=2, n=5, k=5, seed=1)
    alpha = torch.tensor([0.5, 3.0], dtype=torch.float64)
    lr = 1e-3
    res = dop_descent(Y, U, g, h, alpha, lr, steps=1, record_every=1)
    gU, gg, gh = dop_gradients(U, g, h, Y)
    U1 = U - lr * gU
    g1 = g - alpha.view(-1, 1, 1) * lr * gg
    h1 = h - alpha.view(-1, 1, 1) * lr * gh
    torch.testing.assert_close(res.X, U1 @ U1.mT)
    torch.testing.assert_close(res.S, g1 * g1 - h1 * h1)
    # Loss recorded at step 0 and step 1 is the objective there.
    torch.testing.assert_close(res.curves["loss"][0], dop_objective(U, g, h, Y))
    torch.testing.assert_close(res.curves["loss"][1], dop_objective(U1, g1, h1, Y))


def test_mf_l1_subgradient_matches_autograd():
    U, _, _, Y = _random_state(n=8, k=3, seed=2)
    U.requires_grad_(True)
    mf_l1_objective(U, Y).sum().backward()
    torch.testing.assert_close(mf_l1_subgradient(U.detach(), Y), U.grad, rtol=1e-12, atol=1e-12)


def test_mf_l1_descent_step():
    U, _, _, Y = _random_state(n=6, k=2, seed=3)
    res = mf_l1_descent(Y, U, lr=1e-2, steps=1, record_every=1)
    U1 = U - 1e-2 * mf_l1_subgradient(U, Y)
    torch.testing.assert_close(res.X, U1 @ U1.mT)


def test_problem_statistics():
    n, r, p = 40, 3, 0.25
    inst = rpca_problem(n, r, p, numpy_rng(11))
    assert np.count_nonzero(inst.S) == round(p * n * n)
    assert np.linalg.matrix_rank(inst.X) == r
    assert np.allclose(inst.X, inst.X.T)
    assert np.linalg.eigvalsh(inst.X).min() > -1e-9
    # Pooled over draws: corruptions are N(0, 10^2) and U* entries N(0, 1), so E tr(X*) = n r.
    vals = np.concatenate([rpca_problem(n, r, p, numpy_rng(s)).S.ravel() for s in range(20)])
    vals = vals[vals != 0]
    assert abs(vals.mean()) < 0.3
    assert 9.6 < vals.std() < 10.4
    traces = [np.trace(rpca_problem(n, r, p, numpy_rng(s)).X) for s in range(20)]
    assert abs(np.mean(traces) / (n * r) - 1) < 0.05


def test_problem_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        rpca_problem(5, 6, 0.1, numpy_rng(0))
    with pytest.raises(ValueError, match="p must"):
        rpca_problem(5, 2, 1.5, numpy_rng(0))


def test_dop_recovers_small_problem():
    # n = 20, r = 2, p = 0.1 at alpha = sqrt(n): recovery within the paper's 0.1 threshold.
    inst = rpca_problem(20, 2, 0.1, numpy_rng(5))
    X = torch.tensor(inst.X)[None]
    S = torch.tensor(inst.S)[None]
    rng = numpy_rng(6)
    U0 = torch.tensor(rng.normal(0, 1e-4, (1, 20, 20)))
    g0 = torch.tensor(rng.normal(0, 1e-4, (1, 20, 20)))
    res = dop_descent(X + S, U0, g0, g0.clone(), math.sqrt(20), 2e-4, steps=8000, record_every=1000, X_true=X, S_true=S)
    assert relative_error(res.X, X).item() < 0.1
    assert not res.diverged.any()


def test_divergence_is_recorded_not_raised():
    U, g, h, Y = _random_state(B=2, n=5, k=5, seed=7)
    Y = Y * 1e3
    res = dop_descent(Y, U, g, h, torch.tensor([1.0, 1.0]), lr=10.0, steps=200, record_every=10)
    assert res.diverged.all()
    assert res.steps_run < 200  # stopped early once every run blew up


def test_record_steps():
    assert record_steps(10, 4) == [0, 4, 8, 10]
    assert record_steps(8, 4) == [0, 4, 8]
    with pytest.raises(ValueError):
        record_steps(10, 0)


def test_trial_seed_depends_on_identity_only():
    a = trial_seed(1, "rpca_alpha", "n~50", 3)
    assert a == trial_seed(1, "rpca_alpha", "n~50", 3)
    assert (
        len(
            {
                a,
                trial_seed(2, "rpca_alpha", "n~50", 3),
                trial_seed(1, "x", "n~50", 3),
                trial_seed(1, "rpca_alpha", "n~40", 3),
                trial_seed(1, "rpca_alpha", "n~50", 4),
            }
        )
        == 5
    )


ALPHA_SETTINGS = dict(
    kind="rpca_alpha",
    n=12,
    rank=2,
    p=0.2,
    outlier_std=10.0,
    alpha_min=1.0,
    alpha_max=10.0,
    alpha_num=3,
    trials=3,
    steps=300,
    lr=3e-3,
    init_scale=1e-4,
    record_every=100,
    success_threshold=0.1,
)


def test_run_job_is_deterministic_and_batching_invariant(tmp_path):
    from implicit_bias.rpca_runs import alpha_jobs

    (job,) = alpha_jobs(ALPHA_SETTINGS)
    s1, c1 = run_job(sweep="t", settings=ALPHA_SETTINGS, job=job, outdir=tmp_path / "a", seed=7, progress=False)
    s2, c2 = run_job(sweep="t", settings=ALPHA_SETTINGS, job=job, outdir=tmp_path / "b", seed=7, progress=False)
    cols = ["seed", "alpha", "rel_err_X", "rel_err_S"]
    assert s1[cols].equals(s2[cols])
    assert c1.equals(c2)
    assert sorted(set(s1["alpha"].round(3))) == [1.0, 3.16, 3.464, 10.0]  # the grid and sqrt(12)
    assert 0.0 < s1["rel_err_X"].min() < 0.9  # the runs went somewhere: the check is not vacuous
    # One trial alone gives the same numbers, at every alpha, as inside the batch of three.
    s3, _ = run_job(
        sweep="t", settings=dict(ALPHA_SETTINGS, trials=1), job=job, outdir=tmp_path / "c", seed=7, progress=False
    )
    first = s1[s1["trial"] == 0].reset_index(drop=True)
    assert list(s3["seed"]) == list(first["seed"])
    np.testing.assert_allclose(s3["rel_err_X"], first["rel_err_X"], rtol=1e-10)
    # Every alpha sees the same problems; a different base seed gives different data.
    assert s1.groupby("trial")["seed"].nunique().eq(1).all()
    s4, _ = run_job(sweep="t", settings=ALPHA_SETTINGS, job=job, outdir=tmp_path / "d", seed=8, progress=False)
    assert not np.allclose(s4["rel_err_X"], s1["rel_err_X"], rtol=1e-6, atol=0)


def test_run_job_writes_contract_columns(tmp_path):
    summary, curves = run_job(
        sweep="rpca_alpha", settings=ALPHA_SETTINGS, job={"alphas": 4}, outdir=tmp_path, seed=0, progress=False
    )
    for col in [
        "sweep",
        "method",
        "trial",
        "seed",
        "n",
        "rank",
        "p",
        "alpha",
        "lambda",
        "steps",
        "lr",
        "init_scale",
        "rel_err_X",
        "rel_err_S",
        "success",
        "diverged",
        "wall_s",
        "device",
    ]:
        assert col in summary.columns, col
    assert (tmp_path / "summary.csv").exists() and (tmp_path / "curves.csv").exists()
    assert set(curves["iteration"]) == {0, 100, 200, 300}
    np.testing.assert_allclose(summary["lambda"], 1.0 / summary["alpha"])


@pytest.mark.parametrize("n,B", [(8, 1), (8, 5), (100, 1), (100, 3)])
def test_dop_dispatch_by_shape_gives_the_batched_torch_result(n, B):
    """Every path the engine may take for a shape (NumPy's products from n = 100 on CPU, one
    thread or several) gives the result of torch's batched products, to rounding."""
    from implicit_bias.batching import numpy_blas_controllable
    from implicit_bias.rpca import NUMPY_PRODUCTS_MIN_N, dop_plan

    plan = dop_plan(n, n, B, torch.float64, "cpu")
    large = n >= NUMPY_PRODUCTS_MIN_N
    assert plan.products == ("numpy" if large and numpy_blas_controllable() else "torch")
    assert plan.threads == min(torch.get_num_threads(), -(-B // plan.chunk))
    if plan.threads == 1 and not large:
        assert plan.torch_threads == plan.blas_threads == 1  # a lone small chunk: one thread
    assert dop_plan(n, n, B, torch.float64, "meta").products == "torch"
    assert dop_plan(n, n, B, torch.float32, "cpu").products == "torch"  # float32: torch's kernels
    U, g, _, Y = _random_state(B=B, n=n, k=n, seed=9)
    U, g = 1e-2 * U, 1e-2 * g
    kw = dict(steps=6, record_every=3, X_true=Y, S_true=Y)
    ref = dop_descent(Y, U, g, g.clone(), math.sqrt(n), 1e-3, products="torch", chunk=B, **kw)
    for products in (None, "numpy"):
        res = dop_descent(Y, U, g, g.clone(), math.sqrt(n), 1e-3, products=products, **kw)
        torch.testing.assert_close(res.X, ref.X, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(res.S, ref.S, rtol=1e-10, atol=1e-12)
        for k in ref.curves:
            torch.testing.assert_close(res.curves[k], ref.curves[k], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="products"):
        dop_descent(Y, U, g, g.clone(), 1.0, 1e-3, steps=1, products="blas")
