"""Independent convex solvers (cvxpy) that the tests check the project's own against.

They state each program in cvxpy's modelling language, the most direct transcription of its
mathematics, and solve it with an interior-point (Clarabel) or first-order (SCS) solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np


@dataclass
class ConvexSolution:
    """A solution of a convex program, with the solver's report.

    :ivar X: the low-rank part, ``(n, n)``.
    :ivar s: the sparse part (a vector for sensing, a matrix for robust PCA).
    :ivar value: the optimal value.
    :ivar status: cvxpy's status string (``optimal``, ``optimal_inaccurate``, ...).
    :ivar solver: the solver's name.
    """

    X: np.ndarray
    s: np.ndarray
    value: float
    status: str
    solver: str


def _solve(problem, solver: str, tolerance: float) -> None:
    if solver == "SCS":
        problem.solve(solver="SCS", eps_abs=tolerance, eps_rel=tolerance, max_iters=200_000)
    elif solver == "CLARABEL":
        problem.solve(solver="CLARABEL", tol_gap_abs=tolerance, tol_gap_rel=tolerance, tol_feas=tolerance)
    else:
        raise ValueError(f"solver must be CLARABEL or SCS, got {solver!r}")


def convex_robust_sensing(
    A: np.ndarray, y: np.ndarray, lam: float, solver: str = "CLARABEL", tolerance: float = 1e-8
) -> ConvexSolution:
    r"""Solve the convex program of Theorem 1 (paper eq. 8) with cvxpy.

    .. math:: \min_{X \succeq 0,\, s} \operatorname{tr}(X) + \lambda \|s\|_1
              \quad\text{s.t.}\quad \mathcal A(X) + s = y

    (the nuclear norm of a PSD matrix is its trace).

    :param A: measurement matrices, ``(m, n, n)``.
    :param y: observations, ``(m,)``.
    :param lam: :math:`\lambda > 0` (Theorem 1: :math:`1/\alpha`).
    :param solver: ``CLARABEL`` (interior point) or ``SCS`` (first order).
    :param tolerance: the solver's feasibility and duality-gap tolerance.
    :returns: the solution; ``status`` says whether the solver trusts it.
    """
    m, n, _ = A.shape
    X = cp.Variable((n, n), PSD=True)
    s = cp.Variable(m)
    constraints = [A.reshape(m, n * n) @ cp.vec(X, order="C") + s == y]
    problem = cp.Problem(cp.Minimize(cp.trace(X) + lam * cp.norm1(s)), constraints)
    _solve(problem, solver, tolerance)
    return ConvexSolution(X.value, s.value, float(problem.value), problem.status, solver)


# ---------------------------------------------------------------------------------------
# Weighted minimum norm (Appendix A)
# ---------------------------------------------------------------------------------------


def convex_rpca_psd(Y: np.ndarray, lam: float, solver: str = "SCS", tolerance: float = 1e-7) -> ConvexSolution:
    r"""Robust PCA with a PSD low-rank part, solved by cvxpy (paper eq. 8 with
    :math:`\mathcal A` the identity).

    .. math:: \min_{X \succeq 0} \operatorname{tr}(X) + \lambda \|Y - X\|_1

    :param Y: the observed matrix, ``(n, n)``.
    :param lam: :math:`\lambda > 0` (the correspondence: :math:`1/\alpha`).
    :param solver: ``SCS`` (first order, fast at n = 50) or ``CLARABEL``.
    :param tolerance: the solver's tolerance.
    :returns: the solution, with ``s = Y - X``.
    """
    n = Y.shape[0]
    X = cp.Variable((n, n), PSD=True)
    problem = cp.Problem(cp.Minimize(cp.trace(X) + lam * cp.sum(cp.abs(Y - X))))
    _solve(problem, solver, tolerance)
    return ConvexSolution(X.value, Y - X.value, float(problem.value), problem.status, solver)
