"""The certified convex solvers, checked against an interior-point solver (Clarabel via cvxpy)
and against certificates recomputed here from what they return."""

from __future__ import annotations

import math
import warnings

import cvxpy as cp
import numpy as np
import pytest
import torch
from oracles import convex_robust_sensing

from implicit_bias.apg import singular_value_threshold
from implicit_bias.convex import (
    commuting_sensing_lp,
    pcp,
    psd_pcp,
    shrink_eigenvalues,
    shrink_singular_values,
)
from implicit_bias.rpca import rpca_problem
from implicit_bias.theory import commuting_sensing_problem

N = 20
LAM = 1.0 / math.sqrt(N)
# (rank, p, seed) of planted problems that the solvers certify in a few hundred iterations
# and whose optimum Clarabel pins down to 1e-6 (it is unique).
CASES = [(4, 0.3, 2), (1, 0.05, 5), (2, 0.1, 11)]
# Agreement required with Clarabel: objective and solution, relative.
OBJ_TOL = 1e-6
X_TOL = 1e-5


def _Y(case, n=N):
    rank, p, seed = case
    return rpca_problem(n, rank, p, np.random.default_rng(seed)).Y


def _clarabel(Y: np.ndarray, lam: float, psd: bool):
    """The program solved by Clarabel at tight tolerances: ``(value, X)``."""
    n = Y.shape[0]
    X, S = cp.Variable((n, n), PSD=psd), cp.Variable((n, n))
    objective = (cp.trace(X) if psd else cp.normNuc(X)) + lam * cp.sum(cp.abs(S))
    prob = cp.Problem(cp.Minimize(objective), [X + S == Y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), prob.status
    return float(prob.value), X.value


@pytest.fixture(scope="module")
def references():
    """Clarabel's optima of every case, for both programs."""
    return {(case, psd): _clarabel(_Y(case), LAM, psd) for case in CASES for psd in (False, True)}


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _independent_gap(Y: np.ndarray, X: np.ndarray, Lam: np.ndarray, lam: float, psd: bool):
    """The duality gap recomputed here, in NumPy: the primal value at (X, Y - X) with a full
    SVD (or the trace), and the dual value of the returned certificate after checking that it
    is dual feasible. Returns ``(P, D, gap)``."""
    if psd:
        assert np.allclose(X, X.T, rtol=0, atol=1e-12 * np.abs(X).max())
        assert np.linalg.eigvalsh(X).min() >= -1e-10 * max(1.0, np.abs(X).max())
        P = np.trace(X) + lam * np.abs(Y - X).sum()
        assert np.linalg.eigvalsh(0.5 * (Lam + Lam.T)).max() <= 1 + 1e-12
    else:
        P = np.linalg.svd(X, compute_uv=False).sum() + lam * np.abs(Y - X).sum()
        assert np.linalg.norm(Lam, 2) <= 1 + 1e-12
    assert np.abs(Lam).max() <= lam * (1 + 1e-12)
    D = float(np.sum(Lam * Y))
    return P, D, (P - D) / max(1.0, abs(P))


@pytest.mark.parametrize("psd", [False, True], ids=["pcp", "psd_pcp"])
def test_matches_clarabel_and_certificates_hold(psd, references):
    solver = psd_pcp if psd else pcp
    Ys = [_Y(case) for case in CASES]
    Y = torch.from_numpy(np.stack(Ys))
    res = solver(Y, LAM)  # tol 1e-6
    tight = solver(Y, LAM, tol=1e-10)
    assert bool(res.certified.all()) and bool(tight.certified.all())
    for i, (case, y) in enumerate(zip(CASES, Ys, strict=True)):
        opt, X_ref = references[(case, psd)]
        # The certificate brackets the optimum: D <= opt <= P, P - D <= tol max(1, |P|).
        P, D = res.primal[i].item(), res.dual[i].item()
        assert res.gap[i].item() <= 1e-6
        assert D <= opt * (1 + 1e-9) and P >= opt * (1 - 1e-9)
        assert (P - opt) / opt <= 1e-6 + 1e-9
        # Recomputed here from X and the dual certificate.
        Pi, Di, gap = _independent_gap(y, res.X[i].numpy(), res.dual_certificate[i].numpy(), LAM, psd)
        assert gap <= 1e-6 * (1 + 1e-9)
        assert Pi <= P * (1 + 1e-12)  # the reported primal value is an upper bound
        assert Di == pytest.approx(D, rel=1e-12)
        # Solved tightly, objective and solution match Clarabel's.
        assert abs(tight.primal[i].item() - opt) / opt < OBJ_TOL
        assert _rel(tight.X[i].numpy(), X_ref) < X_TOL
        assert tight.residual[i].item() < 1e-6


def test_the_comparison_can_see_a_wrong_lambda(references):
    """A 2% change of lambda moves the optimum far beyond the tolerances used above."""
    Y = torch.from_numpy(_Y(CASES[0])[None])
    for psd, solver in ((False, pcp), (True, psd_pcp)):
        opt, X_ref = references[(CASES[0], psd)]
        off = solver(Y, 1.02 * LAM, tol=1e-10)
        assert abs(off.primal.item() - opt) / opt > 100 * OBJ_TOL
        assert _rel(off.X[0].numpy(), X_ref) > 100 * X_TOL


@pytest.mark.parametrize("solver", [pcp, psd_pcp], ids=["pcp", "psd_pcp"])
def test_batch_chunks_and_threads_do_not_change_a_problem(solver):
    Y = torch.from_numpy(np.stack([_Y(c) for c in CASES] + [_Y((3, 0.2, 7))]))
    lam = torch.tensor([LAM, 0.8 * LAM, 1.2 * LAM, LAM], dtype=torch.float64)
    batch = solver(Y, lam)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        chunked = solver(Y, lam, chunk=1)
    finally:
        torch.set_num_threads(threads)
    for i in range(4):
        alone = solver(Y[i : i + 1], lam[i].item())
        for other, j in ((alone, 0), (chunked, i)):
            assert batch.iterations[i] == other.iterations[j]
            assert batch.certified[i] == other.certified[j]
            torch.testing.assert_close(batch.X[i], other.X[j], rtol=0, atol=1e-10)
            torch.testing.assert_close(batch.S[i], other.S[j], rtol=0, atol=1e-10)
            torch.testing.assert_close(batch.gap[i], other.gap[j], rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", [pcp, psd_pcp], ids=["pcp", "psd_pcp"])
def test_uncertified_runs_are_reported_not_raised(solver):
    Y = torch.from_numpy(np.stack([_Y(CASES[0]), _Y(CASES[1])]))
    res = solver(Y, LAM, max_iter=4)
    assert res.iterations.tolist() == [4, 4]
    assert not bool(res.certified.any())
    # The reported gap is still a verified one: finite, above tol, and a true gap.
    assert bool((res.gap > 1e-6).all()) and bool(torch.isfinite(res.gap).all())
    for i in range(2):
        _, _, gap = _independent_gap(
            Y[i].numpy(), res.X[i].numpy(), res.dual_certificate[i].numpy(), LAM, solver is psd_pcp
        )
        assert gap <= res.gap[i].item() + 1e-12


def test_zero_and_scaled_inputs():
    zero = pcp(torch.zeros(1, 5, 5, dtype=torch.float64), LAM)
    assert bool(zero.certified.all()) and zero.gap.item() == 0.0
    assert torch.count_nonzero(zero.X) == 0
    # The schedule is relative to ||Y||_2: scaling Y scales the solution, same iterations.
    Y = torch.from_numpy(_Y(CASES[1])[None])
    a, b = pcp(Y, LAM), pcp(1000.0 * Y, LAM)
    assert a.iterations.item() == b.iterations.item()
    torch.testing.assert_close(1000.0 * a.X, b.X, rtol=1e-8, atol=1e-8)


def test_rectangular_pcp_matches_its_transpose():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((1, 12, 3)) @ rng.standard_normal((1, 3, 18))
    Y[0, rng.random((12, 18)) < 0.1] += 10.0
    Y = torch.from_numpy(Y)
    a, b = pcp(Y, 0.25, tol=1e-9), pcp(Y.mT.contiguous(), 0.25, tol=1e-9)
    assert bool(a.certified.all()) and bool(b.certified.all())
    assert a.primal.item() == pytest.approx(b.primal.item(), rel=1e-8)
    torch.testing.assert_close(a.X, b.X.mT, rtol=0, atol=1e-5)


def test_bad_arguments():
    Y = torch.zeros(2, 4, 4, dtype=torch.float64)
    for solver in (pcp, psd_pcp):
        with pytest.raises(ValueError, match="Y must be"):
            solver(Y[0], 1.0)
        with pytest.raises(ValueError, match="lam"):
            solver(Y, 0.0)
        with pytest.raises(ValueError, match="lam"):
            solver(Y, -1.0)
        with pytest.raises(ValueError, match="lam"):
            solver(Y, torch.ones(3))
        with pytest.raises(ValueError, match="max_iter"):
            solver(Y, 1.0, max_iter=0)
        with pytest.raises(ValueError, match="tol"):
            solver(Y, 1.0, tol=-1.0)
        with pytest.raises(ValueError, match="mu0"):
            solver(Y, 1.0, mu0=0.0)
        with pytest.raises(ValueError, match="check_every"):
            solver(Y, 1.0, check_every=0)
        with pytest.raises(ValueError, match="floating"):
            solver(Y.long(), 1.0)
    with pytest.raises(ValueError, match="square"):
        psd_pcp(torch.zeros(1, 3, 4, dtype=torch.float64), 1.0)


def test_shrinkage_steps_are_the_proxes():
    gen = torch.Generator().manual_seed(0)
    G = torch.randn(3, 9, 7, generator=gen, dtype=torch.float64)
    tau = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64).reshape(3, 1, 1)
    X, bound = shrink_singular_values(G, tau)
    torch.testing.assert_close(X, singular_value_threshold(G, tau, "svd"), rtol=0, atol=1e-10)
    nuclear = torch.linalg.svdvals(X).sum(-1)
    assert bool((bound >= nuclear - 1e-12).all())
    torch.testing.assert_close(bound, nuclear, rtol=1e-12, atol=1e-12)
    Xw, bw = shrink_singular_values(G.mT, tau)
    torch.testing.assert_close(Xw, X.mT, rtol=0, atol=1e-10)
    torch.testing.assert_close(bw, bound, rtol=1e-12, atol=0)
    # Eigenvalue shrinkage of the symmetric part, against its definition.
    Gs = torch.randn(2, 6, 6, generator=gen, dtype=torch.float64)
    P, trace = shrink_eigenvalues(Gs, 0.3)
    w, Q = np.linalg.eigh(0.5 * (Gs + Gs.mT).numpy())
    expect = (Q * np.maximum(w - 0.3, 0)[:, None, :]) @ np.swapaxes(Q, -1, -2)
    np.testing.assert_allclose(P.numpy(), expect, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.numpy(), np.maximum(w - 0.3, 0).sum(-1), rtol=1e-12)


def test_commuting_sensing_lp_matches_the_sdp():
    inst = commuting_sensing_problem(8, 30, 2, 0.1, np.random.default_rng(4))
    lam = 0.3
    lp = commuting_sensing_lp(inst.eigenvalues, inst.y, lam)
    with warnings.catch_warnings():  # cvxpy warns on "optimal_inaccurate", accepted below
        warnings.simplefilter("ignore")
        sdp = convex_robust_sensing(inst.A, inst.y, lam, solver="CLARABEL", tolerance=1e-10)
    assert lp.success and sdp.status in ("optimal", "optimal_inaccurate")
    assert lp.value == pytest.approx(sdp.value, rel=1e-7)
    assert bool((lp.x >= 0).all())
    np.testing.assert_allclose(inst.eigenvalues @ lp.x + lp.s, inst.y, rtol=0, atol=1e-9)
    assert lp.value == pytest.approx(lp.x.sum() + lam * np.abs(lp.s).sum(), rel=1e-12)
    X = (inst.basis * lp.x) @ inst.basis.T
    assert _rel(X, sdp.X) < 1e-5
    assert _rel(lp.s, sdp.s) < 1e-5
    # A different lambda gives a different optimum: the comparison can fail.
    other = commuting_sensing_lp(inst.eigenvalues, inst.y, 1.5 * lam)
    assert abs(other.value - sdp.value) / sdp.value > 1e-3


def test_commuting_sensing_lp_bad_arguments():
    with pytest.raises(ValueError):
        commuting_sensing_lp(np.ones((3, 2)), np.ones(2), 1.0)
    with pytest.raises(ValueError):
        commuting_sensing_lp(np.ones((3, 2)), np.ones(3), 0.0)


@pytest.mark.gpu
@pytest.mark.parametrize("solver", [pcp, psd_pcp], ids=["pcp", "psd_pcp"])
def test_cuda_matches_cpu(solver):
    Y = torch.from_numpy(np.stack([_Y(c) for c in CASES]))
    cpu = solver(Y, LAM)
    gpu = solver(Y.cuda(), LAM)
    assert bool(gpu.certified.all())
    assert bool((gpu.gap <= 1e-6).all())
    torch.testing.assert_close(gpu.primal.cpu(), cpu.primal, rtol=2e-6, atol=0)
    for i in range(len(CASES)):
        _, _, gap = _independent_gap(
            Y[i].numpy(), gpu.X[i].cpu().numpy(), gpu.dual_certificate[i].cpu().numpy(), LAM, solver is psd_pcp
        )
        assert gap <= 1e-6 * (1 + 1e-9)


@pytest.mark.slow
def test_benchmark_script_runs_small(tmp_path):
    """benchmarks/bench_convex.py end to end on a tiny workload; its summary agrees with its rows."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "convex.json"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_convex.py",
            "--problems",
            "2",
            "--sizes",
            "20",
            "--cells",
            "4:0.3",
            "--repeats",
            "1",
            "--clarabel",
            "0",
            "--out",
            str(out),
            "--markdown",
            str(tmp_path / "convex.md"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {r["method"]: r for r in report["results"]}
    assert {"pcp", "ialm", "ialm x2", "apg"} <= set(rows)
    assert all(r["ms_default"] > 0 for r in rows.values())
    pcp_row = rows["pcp"]
    assert pcp_row["certified_fraction"] == 1.0 and pcp_row["reference_certified"]
    assert pcp_row["max_certified_gap"] <= 1e-6
    # A peer's time to 1e-6 is given exactly where a rung of its ladder got every point there.
    for name, r in rows.items():
        if name != "pcp":
            reached = any(g <= 1e-6 for g in r["rung_max_gaps"].values()) or (
                name == "ialm" and rows["ialm x2"]["ms_to_1e-6"] is not None
            )
            assert (r["ms_to_1e-6"] is not None) == reached
    times = [(r["ms_to_1e-6"], m) for m, r in rows.items() if m != "pcp" and r["ms_to_1e-6"] is not None]
    if times:
        assert pcp_row["fastest_peer"] == min(times)[1]
        assert pcp_row["pcp_over_fastest_peer"] == pytest.approx(pcp_row["ms_to_1e-6"] / min(times)[0])
    summary = report["summary"]["20"]
    assert summary["cells"] == 1 and summary["cells_certified"] == 1
    md = (tmp_path / "convex.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| 20 | 4 | 0.30 |")]
    assert len(table) == len(rows) and f"| pcp | {pcp_row['ms_to_1e-6']:.1f} |" in table[0]
    assert "- n = 20: pcp certified every problem in 1 of 1 cells" in md
