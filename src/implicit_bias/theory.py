r"""Checks of the theory of discrepant learning rates (You, Zhu, Qu, Ma 2020).

Three statements of the paper are checked numerically here; neither paper runs them.

* **Theorem 1** (Sec. 3, App. B). For symmetric measurement matrices :math:`A_i` that
  commute, gradient descent on

  .. math:: f(U, g, h) = \tfrac14 \| \mathcal A(UU^\top) + g\circ g - h\circ h - y \|_2^2

  with step :math:`\tau` for :math:`U`, :math:`\alpha\tau` for :math:`g, h`, from
  :math:`U_0 = \gamma I`, :math:`g_0 = h_0 = \gamma \mathbf 1`, tends (as :math:`\tau\to 0`,
  then :math:`\gamma \to 0`) to a solution of

  .. math:: \min_{X \succeq 0,\, s} \|X\|_* + \tfrac1\alpha \|s\|_1
            \quad\text{s.t.}\quad \mathcal A(X) + s = y.

* **Weighted minimum norm** (App. A, eqs. 18-19). Gradient descent on
  :math:`\tfrac12\|W\theta - b\|^2` with per-coordinate rates :math:`\Lambda` from zero
  converges to :math:`\Lambda W^\top (W \Lambda W^\top)^{-1} b`, the interpolant of least
  :math:`\|\Lambda^{-1/2}\theta\|_2`.

* **alpha-lambda correspondence** in robust PCA (Sec. 2.3, "Observation"): DOP at
  :math:`\alpha` against :math:`\min_{X\succeq 0} \operatorname{tr} X + \tfrac1\alpha\|Y - X\|_1`.

Solvers are batched over a leading dimension ``B`` (initial scales, ratios, trials) and
work on any torch device and floating dtype; the convex programs are solved in
:mod:`implicit_bias.convex`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .descent import DescentResult, Recorder, check_descent_args, snapshot_step
from .progress import progress_bar
from .sensing import flatten_operator, sense, sense_adjoint

# ---------------------------------------------------------------------------------------
# Commuting measurements (Theorem 1)
# ---------------------------------------------------------------------------------------


@dataclass
class CommutingSensingInstance:
    r"""A robust sensing problem whose measurement matrices commute (NumPy, float64).

    :ivar A: measurement matrices :math:`A_i = V \operatorname{diag}(d_i) V^\top`, ``(m, n, n)``.
    :ivar basis: the shared orthonormal eigenbasis ``V``, ``(n, n)``.
    :ivar eigenvalues: the rows ``d_i`` of eigenvalues, ``(m, n)``.
    :ivar X: the planted PSD low-rank matrix, diagonal in ``V``, ``(n, n)``.
    :ivar s: the planted sparse corruption, ``(m,)``.
    :ivar y: the observations :math:`\mathcal A(X) + s`, ``(m,)``.
    """

    A: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    X: np.ndarray
    s: np.ndarray
    y: np.ndarray


def commuting_sensing_problem(
    n: int, m: int, rank: int, p: float, rng: np.random.Generator, outlier_std: float = 10.0
) -> CommutingSensingInstance:
    r"""Draw a robust sensing problem with commuting symmetric measurements.

    One Haar-random orthonormal ``V`` is shared by all :math:`A_i = V \operatorname{diag}(d_i)
    V^\top` (so they commute), with :math:`d_i` iid :math:`N(0, 1)`. The planted
    :math:`X_* = V \operatorname{diag}(x_*) V^\top` has ``rank`` positive eigenvalues
    :math:`z^2 + 1/2`, :math:`z \sim N(0,1)`, at random positions (PSD, as Theorem 1
    needs), and :math:`s_*` has ``round(p m)`` entries :math:`N(0, \sigma^2)`.

    :param n: matrix size.
    :param m: number of measurements.
    :param rank: rank of :math:`X_*`, ``0 <= rank <= n``.
    :param p: fraction of corrupted measurements, in ``[0, 1]``.
    :param rng: the trial's generator (the only source of randomness).
    :param outlier_std: :math:`\sigma`, the standard deviation of the corruptions.
    :returns: the instance.
    """
    if not 0 <= rank <= n:
        raise ValueError(f"rank must be in [0, n={n}], got {rank}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    # QR of a Gaussian matrix, signs fixed by R's diagonal: Haar-distributed V.
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    V = Q * np.sign(np.diag(R))
    d = rng.standard_normal((m, n))
    A = np.einsum("ik,ak,jk->aij", V, d, V)
    x = np.zeros(n)
    x[rng.choice(n, size=rank, replace=False)] = rng.standard_normal(rank) ** 2 + 0.5
    X = (V * x) @ V.T
    s = np.zeros(m)
    count = int(round(p * m))
    s[rng.choice(m, size=count, replace=False)] = outlier_std * rng.choice([-1.0, 1.0], size=count)
    y = np.einsum("aij,ij->a", A, X) + s
    return CommutingSensingInstance(A=A, basis=V, eigenvalues=d, X=X, s=s, y=y)


def sensing_dop_residual(U, g, h, A, y) -> torch.Tensor:
    r""":math:`r = \mathcal A(UU^\top) + g\circ g - h\circ h - y`.

    :param U: ``(P, K, n, k)``; :param g, h: ``(P, K, m)``; :param A: ``(P, m, n, n)``;
    :param y: ``(P, m)``.
    :returns: ``(P, K, m)``.
    """
    return sense(flatten_operator(A), U @ U.mT) + g * g - h * h - y.unsqueeze(-2)


def sensing_dop_objective(U, g, h, A, y) -> torch.Tensor:
    r"""The DOP loss of robust sensing (paper eq. 4), per point, ``(P, K)``.

    .. math:: f(U, g, h) = \tfrac14 \| \mathcal A(UU^\top) + g\circ g - h\circ h - y \|_2^2
    """
    r = sensing_dop_residual(U, g, h, A, y)
    return 0.25 * (r * r).sum(-1)


def sensing_dop_gradients(U, g, h, A, y):
    r"""Closed-form gradients of :func:`sensing_dop_objective`.

    :math:`\partial f/\partial U = \tfrac12 (\mathcal A^*(r) + \mathcal A^*(r)^\top)\, U`,
    which is the paper's :math:`\mathcal A^*(r) U` (eq. 6) for symmetric :math:`A_i`;
    :math:`\partial f/\partial g = r\circ g`, :math:`\partial f/\partial h = -r\circ h`.

    :returns: ``(grad_U, grad_g, grad_h)``, shaped like ``(U, g, h)``.
    """
    r = sensing_dop_residual(U, g, h, A, y)
    M = sense_adjoint(flatten_operator(A), r)
    return 0.5 * (M + M.mT) @ U, r * g, -r * h


def sensing_dop_descent(
    A: torch.Tensor,
    y: torch.Tensor,
    gamma: torch.Tensor,
    alpha: torch.Tensor,
    lr: float,
    steps: int,
    *,
    record_every: int = 100,
    desc: str | None = None,
) -> DescentResult:
    r"""Discrepant-rate gradient descent on robust sensing from a :math:`\gamma`-scaled identity.

    .. math::
        U \leftarrow U - \tau\, \mathcal A^*(r)\, U, \qquad
        g \leftarrow g - \alpha\tau\, r\circ g, \qquad
        h \leftarrow h + \alpha\tau\, r\circ h,

    from :math:`U_0 = \gamma I`, :math:`g_0 = h_0 = \gamma\mathbf 1` (paper eqs. 6 and 11):
    the gradient steps on :func:`sensing_dop_objective`. ``A`` is symmetrized first, which
    leaves :math:`\mathcal A(UU^\top)` unchanged and makes :math:`\mathcal A^*(r)` the
    symmetric part the gradient needs.

    ``P`` problems run ``K`` (gamma, alpha) pairs each, as one batch.
    Curves, ``(T, P, K)``: ``residual`` :math:`\|r\|_2/\|y\|_2`, ``objective``
    :math:`\operatorname{tr}(X) + \|s\|_1/\alpha` with :math:`X = UU^\top`,
    :math:`s = g\circ g - h\circ h`, and ``objective_feasible``
    :math:`\operatorname{tr}(X) + \|y - \mathcal A(X)\|_1/\alpha`, the objective of the
    feasible point :math:`(X, y - \mathcal A(X))`.

    :param A: measurement matrices, ``(P, m, n, n)``.
    :param y: observations, ``(P, m)``.
    :param gamma: initial scales, ``(K,)`` or ``(P, K)``.
    :param alpha: learning-rate ratios, ``(K,)`` or ``(P, K)``.
    :param lr: the step :math:`\tau` for ``U``.
    :param steps: number of steps.
    :param record_every: record the curves every this many steps (and at the last).
    :param desc: progress-bar label; None for no bar.
    :returns: a :class:`~implicit_bias.descent.DescentResult`: ``X`` ``(P, K, n, n)``, ``S``
        holding ``s`` ``(P, K, m)``, ``diverged`` ``(P, K)``, and ``X_snapshot``, ``X`` at
        :func:`~implicit_bias.descent.snapshot_step` (90% of the steps).
    """
    check_descent_args(lr, steps)
    snap_at, snapshot = snapshot_step(steps), None
    (P, m), n = y.shape, A.shape[-1]
    to = dict(dtype=y.dtype, device=y.device)
    gamma, alpha = torch.as_tensor(gamma, **to), torch.as_tensor(alpha, **to)
    gamma, alpha = torch.broadcast_tensors(gamma, alpha)
    K = gamma.shape[-1]
    gamma, alpha = gamma.expand(P, K), alpha.expand(P, K)
    if bool((gamma <= 0).any()) or bool((alpha <= 0).any()):
        raise ValueError("gamma and alpha must be > 0")
    A = 0.5 * (A + A.mT)
    # Flattened views for batched matrix products: one bmm per operator application.
    A_rows = A.flatten(-2)  # (P, m, n*n): A(X) = X_flat @ A_rows^T
    A_cols = A_rows.mT.contiguous()  # (P, n*n, m)
    U = (gamma.reshape(P * K, 1, 1) * torch.eye(n, **to)).contiguous()
    g = gamma.unsqueeze(-1).expand(P, K, m).clone()
    h = g.clone()
    step_gh = (alpha * lr).unsqueeze(-1)
    y_norm = torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    names = ["residual", "objective", "objective_feasible"]
    rec = Recorder(steps, record_every, names, P * K, y)
    diverged = torch.zeros(P, K, dtype=torch.bool, device=y.device)
    steps_run = 0
    with progress_bar(steps, desc) as bar:
        for k in range(steps + 1):
            X = torch.bmm(U, U.mT)
            if k == snap_at:
                snapshot = X.view(P, K, n, n).clone()
            s = g * g - h * h
            r = torch.baddbmm(s - y.unsqueeze(-2), X.view(P, K, n * n), A_cols)
            if rec.wants(k):
                trace = X.diagonal(dim1=-2, dim2=-1).sum(-1).view(P, K)
                objective = trace + s.abs().sum(-1) / alpha
                # (X, y - A(X)) is feasible, so its objective bounds the optimum from above.
                feasible = trace + (s - r).abs().sum(-1) / alpha
                residual = torch.linalg.vector_norm(r, dim=-1) / y_norm
                rec.put(
                    k, residual=residual.flatten(), objective=objective.flatten(), objective_feasible=feasible.flatten()
                )
                # The only host synchronisation: at recorded steps, to stop runs that blew up.
                diverged |= ~torch.isfinite(residual)
                if bool(diverged.all()):
                    break
            if k == steps:
                break
            M = torch.bmm(r, A_rows).view(P * K, n, n)
            U = torch.baddbmm(U, M, U, alpha=-lr)
            ar = step_gh * r
            g.addcmul_(g, ar, value=-1.0)
            h.addcmul_(h, ar)
            steps_run = k + 1
            bar.update(1)
    U = U.view(P, K, n, n)
    X = U @ U.mT
    s = g * g - h * h
    diverged |= ~torch.isfinite(X).all(dim=(-2, -1)) | ~torch.isfinite(s).all(dim=-1)
    its, curves = rec.result()
    curves = {name: v.unflatten(-1, (P, K)) for name, v in curves.items()}
    return DescentResult(X, s, its, curves, diverged, steps_run, snapshot)


def commuting_dop_descent(
    D: torch.Tensor,
    y: torch.Tensor,
    gamma: torch.Tensor,
    alpha: torch.Tensor,
    lr: float,
    steps: int,
    *,
    record_every: int = 100,
    desc: str | None = None,
) -> DescentResult:
    r""":func:`sensing_dop_descent` for commuting measurements, in their eigenvalues.

    With :math:`A_i = V \operatorname{diag}(d_i) V^\top` and :math:`U_0 = \gamma I`, every
    iterate is :math:`U = V \operatorname{diag}(u) V^\top`: the gradient
    :math:`\mathcal A^*(r)\, U = V \operatorname{diag}((D^\top r) \circ u) V^\top` keeps the
    form, and :math:`\mathcal A(UU^\top) = D (u\circ u)`. So the matrix dynamics are,
    exactly,

    .. math::
        u \leftarrow u - \tau\, (D^\top r)\circ u, \qquad
        g \leftarrow g - \alpha\tau\, r\circ g, \qquad
        h \leftarrow h + \alpha\tau\, r\circ h, \qquad
        r = D(u\circ u) + g\circ g - h\circ h - y,

    at :math:`O(mn)` a step instead of :math:`O(mn^2)`, which makes initial scales far below
    the matrix runs' and halved steps cheap. Curves as :func:`sensing_dop_descent`.

    :param D: the eigenvalue rows :math:`d_i`, ``(P, m, n)``.
    :param y: observations, ``(P, m)``.
    :param gamma: initial scales, ``(K,)`` or ``(P, K)``.
    :param alpha: learning-rate ratios, ``(K,)`` or ``(P, K)``.
    :param lr: the step :math:`\tau` for ``U``; :param steps: number of steps.
    :param record_every: record the curves every this many steps (and at the last).
    :param desc: progress-bar label; None for no bar.
    :returns: a :class:`~implicit_bias.descent.DescentResult` whose ``X`` holds the
        eigenvalues :math:`x = u\circ u` of :math:`X` in ``V``, ``(P, K, n)`` (and
        ``X_snapshot`` at 90% of the steps), ``S`` holding ``s`` ``(P, K, m)``.
    """
    check_descent_args(lr, steps)
    (P, m), n = y.shape, D.shape[-1]
    to = dict(dtype=y.dtype, device=y.device)
    gamma, alpha = torch.broadcast_tensors(torch.as_tensor(gamma, **to), torch.as_tensor(alpha, **to))
    K = gamma.shape[-1]
    gamma, alpha = gamma.expand(P, K), alpha.expand(P, K)
    if bool((gamma <= 0).any()) or bool((alpha <= 0).any()):
        raise ValueError("gamma and alpha must be > 0")
    Dt = D.mT.contiguous()  # (P, n, m)
    u = gamma.unsqueeze(-1).expand(P, K, n).clone()
    g = gamma.unsqueeze(-1).expand(P, K, m).clone()
    h = g.clone()
    step_gh = (alpha * lr).unsqueeze(-1)
    y_norm = torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    rec = Recorder(steps, record_every, ["residual", "objective", "objective_feasible"], P * K, y)
    diverged = torch.zeros(P, K, dtype=torch.bool, device=y.device)
    snap_at, snapshot, steps_run = snapshot_step(steps), None, 0
    with progress_bar(steps, desc) as bar:
        for k in range(steps + 1):
            x = u * u
            if k == snap_at:
                snapshot = x.clone()
            s = g * g - h * h
            r = torch.baddbmm(s - y.unsqueeze(-2), x, Dt)
            if rec.wants(k):
                trace = x.sum(-1)
                residual = torch.linalg.vector_norm(r, dim=-1) / y_norm
                rec.put(
                    k,
                    residual=residual.flatten(),
                    objective=(trace + s.abs().sum(-1) / alpha).flatten(),
                    objective_feasible=(trace + (s - r).abs().sum(-1) / alpha).flatten(),
                )
                diverged |= ~torch.isfinite(residual)
                if bool(diverged.all()):
                    break
            if k == steps:
                break
            u.addcmul_(torch.bmm(r, D), u, value=-lr)
            ar = step_gh * r
            g.addcmul_(g, ar, value=-1.0)
            h.addcmul_(h, ar)
            steps_run = k + 1
            bar.update(1)
    x, s = u * u, g * g - h * h
    diverged |= ~torch.isfinite(x).all(dim=-1) | ~torch.isfinite(s).all(dim=-1)
    its, curves = rec.result()
    curves = {name: v.unflatten(-1, (P, K)) for name, v in curves.items()}
    return DescentResult(x, s, its, curves, diverged, steps_run, snapshot)


def weighted_min_norm(W: torch.Tensor, b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""The interpolant of least :math:`\|\Lambda^{-1/2}\theta\|_2` (paper eq. 19).

    .. math:: \theta_\Lambda = \Lambda W^\top (W \Lambda W^\top)^{-1} b

    :param W: ``(..., n1, n2)`` with full row rank ``n1 <= n2``.
    :param b: ``(..., n1)``.
    :param weights: the diagonal of :math:`\Lambda`, positive, ``(..., n2)``.
    :returns: ``(..., n2)``.
    """
    WL = W * weights.unsqueeze(-2)
    gram = WL @ W.mT
    return (WL.mT @ torch.linalg.solve(gram, b.unsqueeze(-1))).squeeze(-1)


@dataclass
class PreconditionedResult:
    """What :func:`preconditioned_descent` returns.

    :ivar theta: final iterate, ``(B, n2)``.
    :ivar lr: the step used per batch element, ``(B,)``.
    :ivar iterations: recorded iterations, ``(T,)``.
    :ivar curves: metric name to ``(T, B)``.
    :ivar diverged: ``(B,)``.
    :ivar theta_snapshot: the iterate at 90% of the steps (the convergence gate's point).
    """

    theta: torch.Tensor
    lr: torch.Tensor
    iterations: torch.Tensor
    curves: dict
    diverged: torch.Tensor
    theta_snapshot: torch.Tensor | None = None


def preconditioned_descent(
    W: torch.Tensor,
    b: torch.Tensor,
    weights: torch.Tensor,
    step: float,
    steps: int,
    *,
    record_every: int = 100,
    references: dict[str, torch.Tensor] | None = None,
    theta0: torch.Tensor | None = None,
    desc: str | None = None,
) -> PreconditionedResult:
    r"""Gradient descent with per-coordinate learning rates from zero (paper eq. 18).

    .. math:: \theta_{k+1} = \theta_k - \tau \Lambda W^\top (W\theta_k - b), \qquad \theta_0 = 0,

    with :math:`\tau = \text{step} / \lambda_{\max}(W\Lambda W^\top)` per batch element, so
    ``step`` in ``(0, 2)`` is a stable fraction of the largest stable step.

    Curves: ``residual`` :math:`\|W\theta - b\|/\|b\|` and, for every reference ``name``,
    ``dist_<name>`` :math:`\|\theta - \theta_{\text{name}}\| / \|\theta_{\text{name}}\|`.

    :param W: ``(B, n1, n2)``; :param b: ``(B, n1)``; :param weights: ``(B, n2)``, positive.
    :param step: the step as a fraction of :math:`1/\lambda_{\max}(W\Lambda W^\top)`.
    :param steps: number of steps.
    :param record_every: record every this many steps (and at the last).
    :param references: points to measure the distance to, each ``(B, n2)``.
    :param theta0: the start, ``(B, n2)``; None for zero (the paper's condition).
    :param desc: progress-bar label; None for no bar.
    :returns: a :class:`PreconditionedResult`.
    """
    if not 0.0 < step < 2.0:
        raise ValueError(f"step must be in (0, 2) (a fraction of 1/L), got {step}")
    check_descent_args(step, steps)
    references = references or {}
    B = b.shape[0]
    WL = W * weights.unsqueeze(-2)
    lam_max = torch.linalg.eigvalsh(WL @ W.mT)[..., -1]
    lr = step / lam_max
    # Preconditioned direction Lambda W^T, scaled by each element's step, once.
    P = lr.reshape(B, 1, 1) * WL.mT
    theta = torch.zeros(W.shape[:-2] + W.shape[-1:], dtype=W.dtype, device=W.device)
    if theta0 is not None:
        theta = theta + theta0
    snap_at, snapshot = snapshot_step(steps), theta
    names = ["residual"] + [f"dist_{k}" for k in references]
    rec = Recorder(steps, record_every, names, B, b)
    ref_norms = {k: torch.linalg.vector_norm(v, dim=-1) for k, v in references.items()}
    b_norm = torch.linalg.vector_norm(b, dim=-1)
    diverged = torch.zeros(B, dtype=torch.bool, device=b.device)
    with progress_bar(steps, desc) as bar:
        for k in range(steps + 1):
            r = (W @ theta.unsqueeze(-1)).squeeze(-1) - b
            if k == snap_at:
                snapshot = theta
            if rec.wants(k):
                m = {"residual": torch.linalg.vector_norm(r, dim=-1) / b_norm}
                for name, ref in references.items():
                    gap = torch.linalg.vector_norm(theta - ref, dim=-1)
                    m[f"dist_{name}"] = gap / ref_norms[name]
                rec.put(k, **m)
                diverged |= ~torch.isfinite(m["residual"])
            if k == steps:
                break
            theta = theta - (P @ r.unsqueeze(-1)).squeeze(-1)
            bar.update(1)
    diverged |= ~torch.isfinite(theta).all(dim=-1)
    its, curves = rec.result()
    return PreconditionedResult(theta, lr, its, curves, diverged, snapshot)
