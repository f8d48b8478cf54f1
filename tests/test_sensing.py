"""Matrix sensing: the operator, the gradient, gradient descent, Algorithm 1, the sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CONFIG, DEVICES, run_snakemake

from implicit_bias.config import ConfigError, load_yaml, validate_config
from implicit_bias.experiments import Context, registry, sweep_jobs
from implicit_bias.scorecard import HOLDS, NOT_CONVERGED, scorecard
from implicit_bias.sensing import (
    flatten_operator,
    is_check,
    planted_psd,
    random_factor,
    relative_change,
    restart_due,
    restarted_descent,
    sense,
    sense_adjoint,
    sensing_descent,
    sensing_problem,
    sensing_train_error,
    stationarity_residual,
    symmetric_gaussian_operator,
    training_gradient,
    window_ratio,
)

D, RANK = 8, 2


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The problems here are tiny; extra threads only add scheduling overhead.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _problem(seed=0, d=D, rank=RANK, device="cpu"):
    inst = sensing_problem(d, rank, None, np.random.default_rng(seed))
    to = dict(dtype=torch.float64, device=device)
    return (torch.tensor(inst.A, **to), torch.tensor(inst.b, **to), torch.tensor(inst.X, **to))


def _inits(ranks, norm, seed=1, d=D):
    rng = np.random.default_rng(seed)
    return torch.tensor(np.stack([random_factor(d, r, norm, rng) for r in ranks]))


# ---------------------------------------------------------------------------------------
# The problem and the operator
# ---------------------------------------------------------------------------------------


def test_problem_is_as_in_example_1_1():
    inst = sensing_problem(30, 2, None, np.random.default_rng(3))
    assert inst.A.shape == (240, 30, 30)  # m = 4 * rank * d
    np.testing.assert_array_equal(inst.A, inst.A.transpose(0, 2, 1))
    rows, cols = np.triu_indices(30)
    upper = inst.A[:, rows, cols]
    assert abs(upper.mean()) < 0.01 and abs(upper.std() - 1.0) < 0.01
    eig = np.linalg.eigvalsh(inst.X)
    assert np.isclose(np.trace(inst.X), 1.0)
    assert eig.min() > -1e-12 and np.sum(eig > 1e-10) == 2
    np.testing.assert_allclose(inst.b, [np.sum(a * inst.X) for a in inst.A])


def test_random_factor_has_rank_and_norm():
    U = random_factor(12, 3, 7.5, np.random.default_rng(0))
    assert np.linalg.matrix_rank(U) == 3
    assert np.isclose(np.linalg.norm(U), 7.5)
    with pytest.raises(ValueError):
        random_factor(12, 13, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        planted_psd(5, 0, np.random.default_rng(0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batched", [False, True])
def test_adjoint_identity(device, batched):
    gen = torch.Generator().manual_seed(0)
    B, m = 3, 20
    A = torch.tensor(symmetric_gaussian_operator(D, m, np.random.default_rng(1)))
    if batched:
        A = torch.stack([A, 2 * A, -A])
    A_flat = flatten_operator(A).to(device)
    X = torch.randn(B, D, D, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(B, m, generator=gen, dtype=torch.float64).to(device)
    lhs = (sense(A_flat, X) * y).sum(-1)
    rhs = (X * sense_adjoint(A_flat, y)).sum(dim=(-2, -1))
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-10)
    # The adjoint of a symmetric operator is symmetric.
    adj = sense_adjoint(A_flat, y)
    torch.testing.assert_close(adj, adj.mT)


@pytest.mark.parametrize("batched", [False, True])
def test_gradient_matches_autograd(batched):
    A, b, X = _problem()
    U = _inits([2, 5, 8], 1.3).requires_grad_(True)
    if batched:
        A, b = A.expand(3, *A.shape).clone(), b.expand(3, -1).clone()
    A_flat = flatten_operator(A)
    loss = sensing_train_error(A_flat, b, U).sum()
    (auto,) = torch.autograd.grad(loss, U)
    torch.testing.assert_close(training_gradient(A_flat, b, U.detach()), auto, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------------------


def test_descent_takes_the_papers_step_and_records_errors():
    A, b, X = _problem()
    U0 = _inits([2, 8], 1.0)
    lr = 1e-4
    res = sensing_descent(A, b, X, U0, lr, steps=3)
    A_flat = flatten_operator(A)
    U = U0.clone()
    for k in range(4):
        torch.testing.assert_close(res.train_error[k], sensing_train_error(A_flat, b, U))
        torch.testing.assert_close(res.test_error[k], ((U @ U.mT - X) ** 2).sum(dim=(-2, -1)))
        U = U - lr * training_gradient(A_flat, b, U)
    assert res.steps_run == 3 and not res.diverged.any()
    assert res.diverged_at.tolist() == [-1, -1]


def test_low_rank_start_recovers_and_full_rank_does_not():
    """Example 1.1 at norm 1 on a small instance: the claim the figures rest on."""
    # m = 4 r d = 48 measurements of a 12 x 12 symmetric matrix (78 unknowns): underdetermined,
    # so zero training error does not pin down X, as in the paper's d = 30, m = 240.
    A, b, X = _problem(seed=5, d=12, rank=1)
    res = sensing_descent(A, b, X, _inits([1, 12], 1.0, seed=2, d=12), 1e-3, steps=2000)
    test = res.final("test_error")
    assert test[0] < 1e-20 and test[1] > 1e-3
    assert res.final("train_error")[0] < 1e-20


def test_divergence_is_recorded_not_raised():
    A, b, X = _problem()
    U0 = torch.cat([_inits([2], 1e3), _inits([2], 1.0)])
    res = sensing_descent(A, b, X, U0, 1e-4, steps=200, sync_every=10)
    assert res.diverged.tolist() == [True, False]
    k = int(res.diverged_at[0])
    assert 0 < k < 20
    assert torch.isfinite(res.train_error[:k, 0]).all()
    assert torch.isnan(res.train_error[k:, 0]).all()
    assert torch.isfinite(res.U).all()
    # The blown-up run does not disturb the one batched with it.
    alone = sensing_descent(A, b, X, U0[1:], 1e-4, steps=200)
    torch.testing.assert_close(res.train_error[:, 1], alone.train_error[:, 0])


def test_descent_stops_when_every_run_diverged():
    A, b, X = _problem()
    res = sensing_descent(A, b, X, _inits([2, 8], 1e3), 1e-4, steps=10_000, sync_every=10)
    assert res.diverged.all() and res.steps_run < 100


def test_descent_is_batching_invariant():
    A, b, X = _problem()
    U0 = _inits([2, 3, 8, 8], 0.5)
    together = sensing_descent(A, b, X, U0, 1e-3, steps=100)
    for i in range(4):
        alone = sensing_descent(A, b, X, U0[i : i + 1], 1e-3, steps=100)
        torch.testing.assert_close(together.train_error[:, i], alone.train_error[:, 0], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------


def test_checks_fall_on_k_equal_1_mod_w_with_a_full_window():
    assert [k for k in range(40) if is_check(k, 10)] == [11, 21, 31]
    assert [k for k in range(5) if is_check(k, 1)] == [2, 3, 4]  # W = 1: every step


def test_restart_rule_on_constructed_errors():
    W, tau = 10, 0.998
    # Column 0: linear convergence at rate 0.99 (every ratio 0.99 < tau): restarts at checks.
    # Column 1: rate 0.999 (every ratio > tau): never.
    # Column 2: rate 0.99 except one ratio 0.9985 at iterate 15 (window 12..21 of check 21).
    # Column 3: every ratio exactly tau: not below it, never.
    T = 40
    e = np.ones((T, 4))
    for k in range(1, T):
        e[k] = e[k - 1] * np.array([0.99, 0.999, 0.9985 if k == 15 else 0.99, tau])
    errors = torch.tensor(e)
    for k in range(T - 1):
        due = restart_due(errors, k, W, tau).tolist()
        check = k in (11, 21, 31)
        assert due == [check, False, check and k != 21, False], k
    torch.testing.assert_close(window_ratio(errors, 21, W)[2], torch.tensor(0.9985, dtype=torch.float64))
    # A non-finite error in the window never restarts.
    errors[20, 0] = float("nan")
    assert not restart_due(errors, 21, W, tau)[0]
    with pytest.raises(ValueError):
        window_ratio(errors, 5, W)


def _run_alg1(U0, A, b, X, *, steps=1500, W=50, tau=0.998, lr=2e-5, seeds=None):
    draws = []
    rngs = [np.random.default_rng(s) for s in (seeds or range(U0.shape[0]))]

    def draw(i, rank, norm):
        F = random_factor(U0.shape[-1], rank, norm, rngs[i])
        draws.append((i, rank, norm, F))
        return F

    res = restarted_descent(
        A,
        b,
        X,
        U0,
        lr,
        steps,
        window=W,
        tau=tau,
        rank0=D,
        norm0=10.0,
        rank_step=3,
        factor=0.5,
        min_rank=RANK,
        draw=draw,
    )
    return res, draws


def test_restarted_descent_restarts_exactly_when_the_rule_says():
    A, b, X = _problem(seed=4)
    U0 = _inits([D, D], 10.0, seed=3)
    W, tau = 50, 0.998
    res, draws = _run_alg1(U0, A, b, X, W=W, tau=tau)
    A_flat = flatten_operator(A)
    assert sum(len(ev) for ev in res.restarts) >= 3
    for i in range(2):
        events = res.restarts[i]
        # Recompute the rule from the recorded training errors; it fires exactly at the events.
        expected = [
            k + 1
            for k in range(res.steps_run)
            if is_check(k, W) and float(window_ratio(res.train_error, k, W)[i]) < tau
        ]
        assert [k for k, _, _ in events] == expected
        # Ranks drop by 3 down to the floor, norms halve.
        ranks, norms = [D], [10.0]
        for _, r, v in events:
            ranks.append(max(ranks[-1] - 3, RANK))
            norms.append(norms[-1] * 0.5)
            assert (r, v) == (ranks[-1], norms[-1])
        # The iterate after a restart is the fresh matrix of that rank and norm.
        mine = [d for d in draws if d[0] == i]
        for (k, r, v), (_, rank, norm, F) in zip(events, mine, strict=True):
            assert (rank, norm) == (r, v) and np.linalg.matrix_rank(F) == r
            Ft = torch.tensor(F)[None]
            torch.testing.assert_close(res.train_error[k, i], sensing_train_error(A_flat, b, Ft)[0])


def test_restarted_descent_is_batching_invariant():
    A, b, X = _problem(seed=4)
    U0 = _inits([D, D, D], 10.0, seed=3)
    together, _ = _run_alg1(U0, A, b, X, seeds=[7, 8, 9])
    alone, _ = _run_alg1(U0[1:2], A, b, X, seeds=[8])
    assert len(alone.restarts[0]) >= 3
    assert together.restarts[1] == alone.restarts[0]
    torch.testing.assert_close(together.test_error[:, 1], alone.test_error[:, 0], rtol=1e-9, atol=1e-12)


def test_restarted_descent_validates_its_arguments():
    A, b, X = _problem()
    U0 = _inits([D], 10.0)
    with pytest.raises(ValueError):
        restarted_descent(
            A,
            b,
            X,
            U0,
            1e-4,
            10,
            window=5,
            tau=0.9,
            rank0=D,
            norm0=10.0,
            rank_step=3,
            factor=1.5,
            min_rank=2,
            draw=None,
        )
    with pytest.raises(ValueError):
        restarted_descent(
            A,
            b,
            X,
            U0,
            1e-4,
            10,
            window=5,
            tau=0.9,
            rank0=1,
            norm0=10.0,
            rank_step=3,
            factor=0.5,
            min_rank=2,
            draw=None,
        )


def _alg1_numpy(A, b, X, U0, lr, steps, *, W, tau, stop, rank0, norm0, rank_step, factor, r, rng):
    """Algorithm 1 written out again in NumPy, one run, from the paper's listing: what each
    restart saw (step of the fresh matrix, its rank and norm, the window's largest ratio, the
    last iterate's training and test errors and norm), and the final test error."""
    e, te, fired, U = [], [], [], U0.copy()
    rank, norm = rank0, norm0
    for k in range(steps + 1):
        res = np.einsum("ijk,jk->i", A, U @ U.T) - b
        e.append(res @ res)
        te.append(np.sum((U @ U.T - X) ** 2))
        if k == steps:
            break
        U_next = U - lr * 4 * np.einsum("i,ijk->jk", res, A) @ U
        if k > W and k % W == 1 % W:
            ratio = max(e[j] / e[j - 1] for j in range(k - W + 1, k + 1))
            if ratio < tau and not (stop and rank == r):
                norm, rank = norm * factor, max(rank - rank_step, r)
                fired.append((k + 1, rank, norm, ratio, e[k], te[k], np.linalg.norm(U)))
                U_next = random_factor(U.shape[0], rank, norm, rng)
        U = U_next
    return fired, te[-1]


def _small_alg1(stop, steps=3000, seed=1):
    """A small problem (d = 8, rank 2) on which the paper's rule, at W = 50, tau = 0.995,
    restarts down to U = 0 and the variant that stops at rank r recovers X."""
    inst = sensing_problem(D, RANK, None, np.random.default_rng(seed))
    U0 = random_factor(D, D, 10.0, np.random.default_rng(101))
    kw = dict(W=50, tau=0.995, rank0=D, norm0=10.0, rank_step=3, factor=0.5, r=RANK)
    return inst, U0, kw


def test_restart_records_match_an_independent_implementation():
    inst, U0, kw = _small_alg1(stop=False)
    A, b, X = (torch.tensor(v) for v in (inst.A, inst.b, inst.X))
    lr, steps = 5e-5, 3000
    rngs = [np.random.default_rng(7), np.random.default_rng(7)]
    res = restarted_descent(
        A,
        b,
        X,
        torch.tensor(np.stack([U0, U0])),
        lr,
        steps,
        window=[kw["W"]] * 2,
        tau=[kw["tau"]] * 2,
        stop_at_min_rank=[False, True],
        rank0=D,
        norm0=10.0,
        rank_step=3,
        factor=0.5,
        min_rank=RANK,
        draw=lambda i, rank, norm: random_factor(D, rank, norm, rngs[i]),
    )
    for i, stop in enumerate([False, True]):
        fired, final = _alg1_numpy(inst.A, inst.b, inst.X, U0, lr, steps, stop=stop, rng=np.random.default_rng(7), **kw)
        got = res.fired[i]
        assert [(f["iteration"], f["rank"]) for f in got] == [(k, r) for k, r, *_ in fired]
        assert [k for k, _, _ in res.restarts[i]] == [f["iteration"] for f in got]
        for f, (_, _, norm, ratio, e, te, u) in zip(got, fired, strict=True):
            np.testing.assert_allclose(
                [f["norm"], f["ratio"], f["train_error"], f["test_error"], f["iterate_norm"]],
                [norm, ratio, e, te, u],
                rtol=1e-9,
            )
            assert f["ratio"] < kw["tau"]
        np.testing.assert_allclose(float(res.test_error[-1, i]), final, rtol=1e-6, atol=1e-25)
        # Every check is recorded with its ratio; the ones below tau are the restarts (until
        # the stop at rank r).
        below = [k + 1 for k, q in res.checks[i] if q < kw["tau"]]
        assert below[: len(got)] == [f["iteration"] for f in got]
        assert all(k % kw["W"] == 1 for k, _ in res.checks[i])
    # The stop: restarts end with the one that reaches rank r; the paper's rule goes on.
    assert res.fired[1][-1]["rank"] == RANK and sum(f["rank"] == RANK for f in res.fired[1]) == 1
    assert len(res.fired[0]) > len(res.fired[1])


def test_stopping_at_rank_r_recovers_where_the_papers_rule_ends_near_zero():
    inst, U0, kw = _small_alg1(stop=False)
    zero = float(np.sum(inst.X**2))
    finals = [
        _alg1_numpy(inst.A, inst.b, inst.X, U0, 5e-5, 3000, stop=stop, rng=np.random.default_rng(7), **kw)
        for stop in (False, True)
    ]
    (paper_fired, paper_final), (stop_fired, stop_final) = finals
    assert stop_final < 1e-6 * zero  # recovers X
    assert paper_final > 0.5 * zero  # ends near U = 0, whose test error is ||X||_F^2
    # Every restart of the paper's rule fired before the iterate was near X.
    assert min(te for *_, te, _ in paper_fired) > 0.05 * zero


def test_variants_in_one_batch_equal_each_alone():
    A, b, X = _problem(seed=4)
    U0 = _inits([D, D, D], 10.0, seed=3)
    settings = [(50, 0.998, False), (100, 0.995, False), (50, 0.998, True)]

    def run(idx):
        rngs = {i: np.random.default_rng(40 + i) for i in idx}
        return restarted_descent(
            A,
            b,
            X,
            U0[idx],
            2e-5,
            1500,
            window=[settings[i][0] for i in idx],
            tau=[settings[i][1] for i in idx],
            stop_at_min_rank=[settings[i][2] for i in idx],
            rank0=D,
            norm0=10.0,
            rank_step=3,
            factor=0.5,
            min_rank=RANK,
            draw=lambda j, rank, norm: random_factor(D, rank, norm, rngs[idx[j]]),
        )

    together = run([0, 1, 2])
    for i in range(3):
        alone = run([i])
        assert together.restarts[i] == alone.restarts[0]
        assert [k for k, _ in together.checks[i]] == [k for k, _ in alone.checks[0]]
        np.testing.assert_allclose([q for _, q in together.checks[i]], [q for _, q in alone.checks[0]], rtol=1e-9)
        torch.testing.assert_close(together.test_error[:, i], alone.test_error[:, 0], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        restarted_descent(
            A, b, X, U0, 2e-5, 10, window=[50, 50], tau=0.99, rank0=D, norm0=10.0, rank_step=3, factor=0.5,
            min_rank=RANK, draw=None,
        )  # fmt: skip


def test_convergence_measures():
    A, b, X = _problem(seed=5, d=12, rank=1)
    A_flat = flatten_operator(A)
    # At the planted factor the gradient vanishes; at U = 0 too (a saddle); elsewhere not.
    w, V = np.linalg.eigh(X.numpy())
    root = torch.tensor(V * np.sqrt(np.clip(w, 0, None)))[None]
    U = torch.cat([root, torch.zeros_like(root), _inits([12], 1.0, d=12)])
    res = stationarity_residual(A_flat, b, X, U)
    assert res[0] < 1e-12 and res[1] == 0 and res[2] > 1e-2
    # The scale: the gradient at a point of the planted scale that fits nothing is at most 1.
    assert float(stationarity_residual(A_flat, b, X, root * 1e-6)[0]) <= 1e-6
    P = U @ U.mT
    change = relative_change(P, P * 1.01, X)
    # ||P - 1.01 P|| over the larger of ||X||_F (1 here: rank 1, trace 1) and ||P||_F.
    torch.testing.assert_close(change[2], 0.01 * P[2].norm() / torch.clamp(P[2].norm(), min=X.norm()))
    assert change[1] == 0
    # A run of plain descent records its 90% iterate.
    run = sensing_descent(A, b, X, U[2:], 1e-3, steps=100)
    assert run.snapshot_at == 90 and run.U_snapshot.shape == U[2:].shape


@pytest.mark.gpu
def test_descent_on_cuda_matches_cpu():
    A, b, X = _problem()
    U0 = _inits([2, 8], 1.0)
    cpu = sensing_descent(A, b, X, U0, 1e-3, steps=50)
    gpu = sensing_descent(A.cuda(), b.cuda(), X.cuda(), U0.cuda(), 1e-3, steps=50)
    torch.testing.assert_close(gpu.train_error.cpu(), cpu.train_error, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------
# The sweeps
# ---------------------------------------------------------------------------------------


def _settings(schema, name, size="smoke", **over):
    config = load_yaml(CONFIG)
    config["size"] = size
    config["sweeps"][name].update(over)
    return validate_config(config, schema)["resolved"][name]


def _ctx(tmp_path, name, settings):
    return Context(
        sweep=name,
        settings=settings,
        seed=2020,
        device=torch.device("cpu"),
        dtype=torch.float64,
        outdir=tmp_path,
        progress=False,
    )


def test_init_sweep_is_seeded_and_trials_do_not_depend_on_batching(schema, tmp_path):
    s2 = _settings(schema, "sensing_init", trials=2, steps=60)
    s3 = _settings(schema, "sensing_init", trials=3, steps=60)
    jobs = sweep_jobs(s3)
    assert "init_norm~1000_lr~5e-11" in jobs and "init_norm~0.001_lr~0.0001" in jobs
    job = jobs["init_norm~1_lr~0.0001"]
    run = registry().kind("sensing_init").run
    sum2, cur2 = run(_ctx(tmp_path, "sensing_init", s2), job)
    sum3, cur3 = run(_ctx(tmp_path, "sensing_init", s3), job)
    sum3b, _ = run(_ctx(tmp_path, "sensing_init", s3), job)
    assert sum3["test_error"].tolist() == sum3b["test_error"].tolist()
    key = ["init_rank", "trial"]
    a = sum2.set_index(key)[["seed", "data_seed", "test_error", "train_error"]]
    b = sum3.set_index(key).loc[a.index, a.columns]
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-10)
    assert sum3["data_seed"].nunique() == 1  # Example 1.1: one data set for every run
    assert set(cur3.columns) >= {
        "iteration",
        "train_error",
        "test_error",
        "init_norm",
        "init_rank",
        "lr",
        "trial",
        "method",
    }


def test_init_sweep_records_the_divergence_of_the_papers_step(schema, tmp_path):
    s = _settings(schema, "sensing_init", steps=40)
    summary, curves = (
        registry().kind("sensing_init").run(_ctx(tmp_path, "sensing_init", s), {"init_norm": 1000.0, "lr": 1e-4})
    )
    assert summary["diverged"].all()
    assert (summary["diverged_at"] > 0).all() and summary["test_error"].isna().all()
    assert np.isfinite(curves["train_error"]).all()


def test_restart_sweep_methods_share_the_start(schema, tmp_path):
    s = _settings(schema, "sensing_restart", steps=300)
    ctx = _ctx(tmp_path, "sensing_restart", s)
    gd_sum, gd_cur = registry().kind("sensing_restart").run(ctx, {"method": "gd"})
    re_sum, re_cur = registry().kind("sensing_restart").run(ctx, {"method": "restarted"})
    assert gd_sum["seed"].tolist() == re_sum.loc[re_sum["variant"] == "paper", "seed"].tolist()

    def start(c):
        return c[(c["iteration"] == 0) & (c["variant"] == "paper")].sort_values("trial")["train_error"].to_numpy()

    # The same start; the batch sizes differ (the variants), so the last bit may differ.
    np.testing.assert_allclose(start(gd_cur), start(re_cur), rtol=1e-14)
    assert (gd_sum["restarts"] == 0).all()
    paper = re_sum[re_sum["variant"] == "paper"]
    assert (paper["restarts"] > 0).all() and len(paper) == s["trials"]
    flagged = re_cur[re_cur["restart"]]
    assert len(flagged) == re_sum["restarts"].sum()
    assert set(flagged["init_rank"]) <= set(range(s["min_rank"], s["init_rank"]))
    # The restart records are parallel lists, consistent with the rule: ranks fall by
    # rank_step to the floor, norms shrink by factor, every ratio is below that run's tau.
    for _, row in re_sum.iterrows():
        its = row["restart_iterations"].split() if isinstance(row["restart_iterations"], str) else []
        ranks = [int(x) for x in str(row["restart_ranks"]).split()] if its else []
        norms = [float(x) for x in str(row["restart_norms"]).split()] if its else []
        ratios = [float(x) for x in str(row["restart_ratios"]).split()] if its else []
        assert len(ranks) == len(norms) == len(ratios) == len(its) == row["restarts"]
        expect_rank, expect_norm = s["init_rank"], s["init_norm"]
        for r, v, q in zip(ranks, norms, ratios, strict=True):
            expect_rank, expect_norm = max(expect_rank - s["rank_step"], s["min_rank"]), expect_norm * s["factor"]
            assert r == expect_rank and v == pytest.approx(expect_norm, rel=1e-3) and q < row["tau"]
        if row["stop_at_min_rank"]:
            assert ranks.count(s["min_rank"]) <= 1
    # Every variant of the default grid ran, labelled as ours, from the paper's starts.
    assert set(re_sum["variant"]) == {"paper", "ours_tau~0.997", "ours_tau~0.995", "ours_tau~0.99", "ours_W~1000",
                                      "ours_stop_at_r"}  # fmt: skip
    starts = re_cur[re_cur["iteration"] == 0].groupby("variant")["train_error"].apply(sorted)
    assert all(v == starts["paper"] for v in starts)
    # Check ratios are in the curves, at checks only.
    checks = re_cur.dropna(subset=["window_ratio"])
    assert (
        len(checks)
        and (
            (
                checks["iteration"]
                % checks.merge(re_sum[["variant", "window"]].drop_duplicates(), on="variant")["window"].to_numpy()
            )
            == 1
        ).all()
    )
    # The paper's rows do not depend on the variants run beside them.
    alone, _ = registry().kind("sensing_restart").run(_ctx(tmp_path, "sensing_restart", {**s, "variants": []}),
                                                      {"method": "restarted"})  # fmt: skip
    assert alone["variant"].tolist() == ["paper"] * s["trials"]
    np.testing.assert_allclose(alone["test_error"], paper["test_error"], rtol=1e-9)
    assert alone["restart_iterations"].tolist() == paper["restart_iterations"].tolist()


def test_the_gate_flags_a_short_restart_run(schema, tmp_path):
    """A deliberately short run: the claims about where descent ends read "not converged"."""
    tables = {}
    for steps in (120, 1500):
        # (The smoke size sets the steps, over the sweep's; set them after it.)
        s = {**_settings(schema, "sensing_restart", variants=[{"stop_at_min_rank": True}]), "steps": steps}
        ctx = _ctx(tmp_path, "sensing_restart", s)
        parts = [registry().kind("sensing_restart").run(ctx, {"method": m}) for m in ("gd", "restarted")]
        tables[steps] = {k: pd.concat([p[j] for p in parts]) for j, k in enumerate(("summary", "curves"))}
    card = scorecard("quick", {"r": s}, {"r": tables[120]}, registry().claims, figures={})
    verdict = dict(zip(card["claim_id"], card["holds"], strict=True))
    ours = dict(zip(card["claim_id"], card["ours"], strict=True))
    for key in ("beats_gd", "recovers", "ours_stop_at_r_recovers"):
        assert verdict[f"r:{key}"] == NOT_CONVERGED, ours[f"r:{key}"]
        assert "NOT CONVERGED" in ours[f"r:{key}"] and "would read" in ours[f"r:{key}"]
    assert verdict["r:ours_fires_far_from_x"] in (HOLDS, "no")  # about the restarts, not a limit: not gated
    # Plain descent settles with more steps: its residual falls.
    short, long = (tables[k]["summary"] for k in (120, 1500))
    gd_short, gd_long = (x[x["method"] == "gd"].set_index("trial") for x in (short, long))
    assert (gd_long["residual"] < 0.5 * gd_short["residual"]).all()


def test_init_sweep_records_convergence(schema, tmp_path):
    s = _settings(schema, "sensing_init", steps=400)
    summary, _ = registry().kind("sensing_init").run(_ctx(tmp_path, "sensing_init", s), {"init_norm": 1.0, "lr": 1e-4})
    assert {"residual", "last_change"} <= set(summary.columns)
    assert (summary["residual"] >= 0).all() and (summary["last_change"] >= 0).all()


@pytest.mark.parametrize(
    "over, key",
    [
        ({"init_ranks": [2, 31]}, "init_ranks"),
        ({"extra_runs": [{"init_norm": 5.0, "lr": 1e-9}]}, "extra_runs"),
    ],
)
def test_bad_init_config_is_refused(schema, over, key):
    with pytest.raises(ConfigError, match=key):
        _settings(schema, "sensing_init", size="paper", **over)


@pytest.mark.parametrize(
    "over, key",
    [
        ({"min_rank": 1}, "min_rank"),
        ({"factor": 1.0}, "factor"),
        ({"init_rank": 40}, "init_rank"),
    ],
)
def test_bad_restart_config_is_refused(schema, over, key):
    with pytest.raises(ConfigError, match=key):
        _settings(schema, "sensing_restart", size="paper", **over)


@pytest.mark.slow
def test_smoke_workflow_draws_the_sensing_figures(smoke_run, tmp_path):
    # On a copy of the session's smoke run (conftest.smoke_run), which made them.
    run = smoke_run.copy(tmp_path / "run")
    run_snakemake(
        run,
        "--cores",
        "1",
        "figures/sensing_fig1_init_norm.png",
        "figures/sensing_fig5_restarts.pdf",
        "--config",
        "size=smoke",
    )
    assert (run / "figures/sensing_fig1_init_norm.png").stat().st_size > 0
    assert (run / "results/sensing_restart/summary.csv").exists()
