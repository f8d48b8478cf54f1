r"""Matrix sensing with a factored model: the planted problem, gradient descent, Algorithm 1.

Eftekhari, Zygalakis (2021), "Limitations of Implicit Bias in Matrix Sensing: Initialization
Rank Matters", Example 1.1 and Section 5. A planted PSD matrix :math:`X^\natural \in
\mathbb{R}^{d\times d}` of rank :math:`r` and trace 1 is observed through :math:`m`
symmetric Gaussian measurement matrices, :math:`b = \mathcal{A}(X^\natural)` with

.. math:: \mathcal{A}(X) = [\langle A_1, X\rangle, \dots, \langle A_m, X\rangle]^\top,
    \qquad \mathcal{A}^*(y) = \sum_i y_i A_i,

and :math:`U U^\top` is fitted by gradient descent on the training error
:math:`\|\mathcal{A}(UU^\top) - b\|_2^2`; the test error is :math:`\|UU^\top - X^\natural\|_F^2`.

Every solver is batched: tensors carry a leading batch dimension ``B`` (trials,
initializations), so one call runs many independent problems. The measurement operator is
either shared by the batch, ``(m, d, d)``, or one per batch element, ``(B, m, d, d)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .descent import check_descent_args, snapshot_step
from .progress import progress_bar

# ---------------------------------------------------------------------------------------
# The planted problem
# ---------------------------------------------------------------------------------------


@dataclass
class SensingInstance:
    """One planted matrix-sensing problem (NumPy, float64).

    :ivar A: measurement matrices, ``(m, d, d)``, each symmetric.
    :ivar X: the planted matrix, ``(d, d)``, PSD with trace 1.
    """

    A: np.ndarray
    X: np.ndarray

    @property
    def b(self) -> np.ndarray:
        """The measurements :math:`b = \\mathcal{A}(X^\\natural)`, ``(m,)``."""
        return np.einsum("ijk,jk->i", self.A, self.X)


def symmetric_gaussian_operator(d: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` symmetric ``d x d`` matrices whose upper-triangular entries (diagonal included)
    are iid N(0, 1), the lower triangle mirroring the upper (Example 1.1).

    :param d: matrix size.
    :param m: number of measurements.
    :param rng: the only source of randomness.
    :returns: ``(m, d, d)`` array.
    """
    if d < 1 or m < 1:
        raise ValueError(f"d and m must be >= 1, got d={d}, m={m}")
    upper = np.triu(rng.standard_normal((m, d, d)))
    return upper + np.triu(upper, 1).transpose(0, 2, 1)


def planted_psd(d: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    r"""A generic PSD matrix of rank ``rank`` and trace 1: :math:`GG^\top / \mathrm{tr}(GG^\top)`
    with :math:`G \in \mathbb{R}^{d\times r}` standard Gaussian."""
    if not 1 <= rank <= d:
        raise ValueError(f"rank must be in [1, d={d}], got {rank}")
    G = rng.standard_normal((d, rank))
    X = G @ G.T
    return X / np.trace(X)


def sensing_problem(d: int, rank: int, m: int | None, rng: np.random.Generator) -> SensingInstance:
    """Draw the planted matrix, then the operator (Example 1.1).

    :param d: matrix size (the paper: 30).
    :param rank: rank of the planted matrix (the paper: 2).
    :param m: number of measurements; None means the paper's ``4 * rank * d``.
    :param rng: the trial's data generator.
    """
    m = 4 * rank * d if m is None else m
    X = planted_psd(d, rank, rng)
    return SensingInstance(A=symmetric_gaussian_operator(d, m, rng), X=X)


def random_factor(d: int, rank: int, norm: float, rng: np.random.Generator) -> np.ndarray:
    """A generic ``d x d`` matrix of rank ``rank`` scaled to Frobenius norm ``norm``: the product
    of a ``d x rank`` and a ``rank x d`` standard Gaussian matrix, rescaled.

    The initialization of Example 1.1 and the restarts of Algorithm 1.
    """
    if not 1 <= rank <= d:
        raise ValueError(f"rank must be in [1, d={d}], got {rank}")
    if not norm > 0:
        raise ValueError(f"norm must be > 0, got {norm}")
    U = rng.standard_normal((d, rank)) @ rng.standard_normal((rank, d))
    return U * (norm / np.linalg.norm(U))


# ---------------------------------------------------------------------------------------
# The operator, the loss, its gradient
# ---------------------------------------------------------------------------------------


def flatten_operator(A: torch.Tensor) -> torch.Tensor:
    """``(m, d, d)`` or ``(B, m, d, d)`` measurement matrices as ``(..., m, d*d)`` rows."""
    return A.reshape(*A.shape[:-2], A.shape[-1] * A.shape[-2])


def sense(A_flat: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathcal{A}(X) = [\langle A_i, X\rangle]_i`, batched.

    :param A_flat: :func:`flatten_operator` of the operator: ``(m, d*d)`` shared by every
        point, or ``(B, m, d*d)``, one operator per batch element.
    :param X: ``(B, d, d)``: one point per batch element; or, with one operator per batch
        element, ``(B, K, d, d)``: ``K`` points per operator.
    :returns: ``(B, m)`` or ``(B, K, m)``.
    """
    x = X.flatten(-2)
    if A_flat.dim() == 3 and x.dim() == 2:
        return torch.bmm(A_flat, x.unsqueeze(-1)).squeeze(-1)
    return x @ A_flat.mT


def sense_adjoint(A_flat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathcal{A}^*(y) = \sum_i y_i A_i`, batched as :func:`sense`.

    :param A_flat: ``(m, d*d)`` or ``(B, m, d*d)``.
    :param y: ``(B, m)``, or ``(B, K, m)`` with one operator per batch element.
    :returns: ``(B, d, d)`` or ``(B, K, d, d)``.
    """
    if A_flat.dim() == 3 and y.dim() == 2:
        flat = torch.bmm(y.unsqueeze(1), A_flat).squeeze(1)
    else:
        flat = y @ A_flat
    d = math.isqrt(flat.shape[-1])
    return flat.unflatten(-1, (d, d))


def sensing_train_error(A_flat: torch.Tensor, b: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    r""":math:`\|\mathcal{A}(UU^\top) - b\|_2^2` per batch element.

    :param b: measurements, ``(B, m)`` or ``(m,)``.
    """
    r = sense(A_flat, U @ U.mT) - b
    return (r * r).sum(-1)


def training_gradient(A_flat: torch.Tensor, b: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    r"""Gradient of :func:`sensing_train_error` in ``U`` for symmetric :math:`A_i`.

    .. math:: \nabla_U \|\mathcal{A}(UU^\top) - b\|_2^2
        = 4\, \mathcal{A}^*\big(\mathcal{A}(UU^\top) - b\big)\, U
    """
    r = sense(A_flat, U @ U.mT) - b
    return 4.0 * torch.bmm(sense_adjoint(A_flat, r), U)


def stationarity_residual(A_flat: torch.Tensor, b: torch.Tensor, X: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    r"""The convergence gate's relative stationarity residual of ``U``, per batch element:

    .. math:: \frac{\|\nabla f(U)\|_F}{4\, \|\mathcal{A}^*(b)\|_F \sqrt{\mathrm{tr}\, X^\natural}}

    The denominator bounds the gradient at a point of the planted factor's scale
    (:math:`\|U\|_F = \|X^{\natural 1/2}\|_F = \sqrt{\mathrm{tr}\, X^\natural}`) that fits
    nothing (residual :math:`-b`): :math:`\|4 \mathcal{A}^*(-b) U\|_F \le
    4 \|\mathcal{A}^*(b)\|_F \|U\|_F`. It is a constant of the problem, not of the start,
    so a start of large norm (whose first gradient is huge) does not make every end look
    stationary, nor a tiny start every end look moving. A saddle (U = 0) reads stationary.

    :param X: the planted matrix, ``(d, d)`` or ``(B, d, d)``.
    :param U: ``(B, d, p)``.
    :returns: ``(B,)``.
    """
    grad = training_gradient(A_flat, b, U).flatten(-2).norm(dim=-1)
    if b.dim() == 1:
        b = b.expand(U.shape[0], -1)
    scale = 4.0 * sense_adjoint(A_flat, b).flatten(-2).norm(dim=-1)
    trace = torch.diagonal(X, dim1=-2, dim2=-1).sum(-1)
    return grad / (scale * trace.clamp_min(0).sqrt())


def relative_change(X_end: torch.Tensor, X_mark: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The convergence gate's change of the iterate :math:`UU^T` over the last steps,
    relative to the larger of the planted matrix's and the final iterate's norm:
    ``||X_end - X_mark||_F / max(||X*||_F, ||X_end||_F)``, per batch element ``(B,)``."""
    diff = (X_end - X_mark).flatten(-2).norm(dim=-1)
    star = X.flatten(-2).norm(dim=-1).expand(diff.shape)
    return diff / torch.maximum(star, X_end.flatten(-2).norm(dim=-1))


# ---------------------------------------------------------------------------------------
# Descent
# ---------------------------------------------------------------------------------------


@dataclass
class SensingRun:
    """What a batched descent returns.

    :ivar U: final iterates, ``(B, d, d)`` (zeros where the run diverged).
    :ivar train_error: training error at every iterate ``0..steps_run``, ``(steps_run + 1, B)``;
        NaN from the first non-finite value on.
    :ivar test_error: test error at the same iterates, same shape.
    :ivar diverged: ``(B,)`` booleans, True where a non-finite value appeared.
    :ivar diverged_at: ``(B,)`` the first iterate with a non-finite training error, -1 if none.
    :ivar steps_run: steps taken (fewer than asked when every run diverged).
    :ivar restarts: per batch element, the restarts of :func:`restarted_descent` as
        ``(iteration, rank, norm)``: the iterate that is the fresh matrix, its rank and norm.
    :ivar fired: per batch element, one dict per restart, what the rule saw when it fired
        after iterate ``k``: ``iteration`` (``k + 1``, the fresh matrix), ``rank`` and
        ``norm`` (the fresh matrix's), ``ratio`` (the window's largest one-step ratio,
        compared to tau), ``train_error``, ``test_error`` and ``iterate_norm``
        (``||U_k||_F``) of the last iterate before the restart.
    :ivar checks: per batch element, ``(k, ratio)`` at each of its restart checks: the
        window's largest one-step ratio the rule compared to tau (fired or not).
    :ivar U_snapshot: the iterates at :attr:`snapshot_at` (the convergence gate's 90% point),
        shaped like ``U``; None if the run stopped before it.
    :ivar snapshot_at: the iteration of :attr:`U_snapshot`.
    """

    U: torch.Tensor
    train_error: torch.Tensor
    test_error: torch.Tensor
    diverged: torch.Tensor
    diverged_at: torch.Tensor
    steps_run: int
    restarts: list = field(default_factory=list)
    fired: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    U_snapshot: torch.Tensor | None = None
    snapshot_at: int = 0

    def final(self, name: str) -> torch.Tensor:
        """The metric ``name`` at the last iterate, ``(B,)``."""
        return getattr(self, name)[-1]


def window_ratio(errors: torch.Tensor, k: int, window: int) -> torch.Tensor:
    r"""The largest one-step ratio of training errors in the window ending at iterate ``k``:

    .. math:: \max_{k - W + 1 \le k' \le k} \; e_{k'} / e_{k'-1}

    :param errors: training errors of iterates ``0..k`` (at least), ``(T, B)``.
    :param k: the last iterate of the window; needs ``k >= window``.
    :param window: ``W``.
    :returns: ``(B,)``; NaN where the window holds a non-finite error.
    """
    if k < window:
        raise ValueError(f"the window of iterate {k} would start before iterate 0 (W = {window})")
    seg = errors[k - window : k + 1]
    ratios = seg[1:] / seg[:-1]
    # max() would skip NaNs on some backends; a window with a non-finite error never restarts.
    bad = ~torch.isfinite(ratios).all(dim=0)
    return torch.where(bad, torch.full_like(ratios[0], float("nan")), ratios.max(dim=0).values)


def is_check(k: int, window: int) -> bool:
    """Whether Algorithm 1 tests for a restart after the update at iterate ``k``.

    The paper checks when ``mod(k, W) = 1`` (for ``W = 1``, where that never holds: every
    step); its window ``k-W+1..k`` needs iterates back to ``k - W``, so the first check is at
    ``k = W + 1``.
    """
    return k > window and k % window == 1 % window


def restart_due(errors: torch.Tensor, k: int, window: int, tau: float) -> torch.Tensor:
    """Algorithm 1, step 2: restart after iterate ``k`` where the window's largest one-step
    ratio of training errors is below ``tau`` (linear convergence in the last window).

    :returns: ``(B,)`` booleans; all False when ``k`` is not a check (:func:`is_check`).
    """
    if not is_check(k, window):
        return torch.zeros(errors.shape[1], dtype=torch.bool, device=errors.device)
    return window_ratio(errors, k, window) < tau


def _check_args(lr: float, steps: int, U0: torch.Tensor, A_flat: torch.Tensor):
    check_descent_args(lr, steps)
    d = U0.shape[-2]
    if A_flat.shape[-1] != d * d:
        raise ValueError(f"the operator acts on {A_flat.shape[-1]} entries, U0 is {tuple(U0.shape)}")


def _finish(U, train, test, steps_run, restarts, *, snapshot=None, snapshot_at=0) -> SensingRun:
    train, test = train[: steps_run + 1], test[: steps_run + 1]
    finite = torch.isfinite(train)
    diverged = ~finite.all(dim=0)
    first_bad = torch.argmax((~finite).to(torch.int8), dim=0)
    diverged_at = torch.where(diverged, first_bad, torch.full_like(first_bad, -1))
    # After the first non-finite value the numbers mean nothing: blank them.
    its = torch.arange(train.shape[0], device=train.device).unsqueeze(1)
    dead = diverged.unsqueeze(0) & (its >= first_bad.unsqueeze(0))
    train = train.masked_fill(dead, float("nan"))
    test = test.masked_fill(dead, float("nan"))
    U = torch.where(diverged.reshape(-1, 1, 1), torch.zeros_like(U), U)
    run = SensingRun(U, train, test, diverged, diverged_at, steps_run, restarts)
    run.U_snapshot, run.snapshot_at = snapshot, snapshot_at
    return run


def _descent(
    A: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    U0: torch.Tensor,
    lr: float,
    steps: int,
    *,
    restart: Callable | None,
    sync_every: int,
    desc: str | None,
    snapshot_at: int | None = None,
):
    A_flat = flatten_operator(A)
    _check_args(lr, steps, U0, A_flat)
    B = U0.shape[0]
    U = U0.clone()
    train = torch.full((steps + 1, B), float("nan"), dtype=U.dtype, device=U.device)
    test = torch.full_like(train, float("nan"))
    steps_run, snapshot = 0, None
    with progress_bar(steps, desc) as bar:
        for k in range(steps + 1):
            if k == snapshot_at:
                snapshot = U.clone()
            P = U @ U.mT
            r = sense(A_flat, P) - b
            train[k] = (r * r).sum(-1)
            D = P - X
            test[k] = (D * D).sum(dim=(-2, -1))
            if k == steps:
                break
            U_k = U
            U = U - (4.0 * lr) * torch.bmm(sense_adjoint(A_flat, r), U)
            if restart is not None:
                fresh = restart(k, train, test, U_k)
                if fresh is not None:
                    U = fresh(U)
            steps_run = k + 1
            bar.update(1)
            if k % sync_every == 0:
                # The only regular host synchronisation: stop once every run has blown up,
                # and park the blown-up ones at U = 0 (a stationary point) so they stay finite.
                bad = ~torch.isfinite(train[: k + 1]).all(dim=0)
                if bool(bad.all()):
                    break
                if bool(bad.any()):
                    U = torch.where(bad.reshape(-1, 1, 1), torch.zeros_like(U), U)
    return U, train, test, steps_run, snapshot


def sensing_descent(
    A: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    U0: torch.Tensor,
    lr: float,
    steps: int,
    *,
    sync_every: int = 100,
    desc: str | None = None,
) -> SensingRun:
    r"""Gradient descent on the training error (Eftekhari & Zygalakis, eq. (3)):

    .. math:: U_{k+1} = U_k - \eta \nabla \|\mathcal{A}(U_k U_k^\top) - b\|_2^2

    :param A: measurement matrices, ``(m, d, d)`` shared or ``(B, m, d, d)``.
    :param b: measurements, ``(m,)`` or ``(B, m)``.
    :param X: the planted matrix for the test error, ``(d, d)`` or ``(B, d, d)``.
    :param U0: initial factors, ``(B, d, p)``.
    :param lr: the step :math:`\eta`.
    :param steps: number of gradient steps.
    :param sync_every: how often (in steps) to look for runs that blew up.
    :param desc: progress-bar label; None for no bar.
    :returns: a :class:`SensingRun`; a run that produces non-finite values is flagged
        (``diverged``), not raised. Its ``U_snapshot`` is the iterate at 90% of the steps
        (:func:`~implicit_bias.descent.snapshot_step`).
    """
    at = snapshot_step(steps)
    U, train, test, steps_run, snap = _descent(
        A, b, X, U0, lr, steps, restart=None, sync_every=sync_every, desc=desc, snapshot_at=at
    )
    B = U0.shape[0]
    run = _finish(U, train, test, steps_run, [[] for _ in range(B)], snapshot=snap, snapshot_at=at)
    run.fired, run.checks = [[] for _ in range(B)], [[] for _ in range(B)]
    return run


def _per_element(value, B: int, name: str) -> list:
    """A setting given once for the batch, or once per batch element, as a list of ``B``."""
    if isinstance(value, (list, tuple)):
        if len(value) != B:
            raise ValueError(f"{name} has {len(value)} entries for a batch of {B}")
        return list(value)
    return [value] * B


def _check_restart_args(window: int, factor: float, rank_step: int, min_rank: int, rank0: int) -> None:
    """Refuse settings Algorithm 1 is not defined for."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor}")
    if rank_step < 0 or min_rank < 1 or rank0 < min_rank:
        raise ValueError(
            f"need rank_step >= 0 and 1 <= min_rank <= rank0, got "
            f"rank_step={rank_step}, min_rank={min_rank}, rank0={rank0}"
        )


def restarted_descent(
    A: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    U0: torch.Tensor,
    lr: float,
    steps: int,
    *,
    window: int | list[int],
    tau: float | list[float],
    rank0: int,
    norm0: float,
    rank_step: int,
    factor: float,
    min_rank: int,
    draw: Callable[[int, int, float], np.ndarray],
    stop_at_min_rank: bool | list[bool] = False,
    desc: str | None = None,
) -> SensingRun:
    r"""Algorithm 1 of Eftekhari & Zygalakis (2021): gradient descent that restarts from a
    smaller, lower-rank initialization whenever it converged linearly over the last window.

    For :math:`k = 0, 1, \dots`: take the step of :func:`sensing_descent`; if
    :math:`\mathrm{mod}(k, W) = 1` (from :math:`k = W + 1` on, :func:`is_check`) and

    .. math:: \max_{k-W+1 \le k' \le k} \frac{\|\mathcal{A}(U_{k'}U_{k'}^\top) - b\|_2^2}
        {\|\mathcal{A}(U_{k'-1}U_{k'-1}^\top) - b\|_2^2} < \tau,

    set :math:`\rho \leftarrow \mathrm{factor}\cdot\rho`,
    :math:`r_0 \leftarrow \max(r_0 - \Delta_\mathrm{rank}, r)` and replace :math:`U_{k+1}` by a
    fresh random matrix of rank :math:`r_0` and Frobenius norm :math:`\rho`. As in the paper,
    the window after a restart holds the one ratio that spans it (fresh error over old).

    The window, the threshold and ``stop_at_min_rank`` may differ per batch element (the
    variants of the rule run as one batch); every element keeps its own rank, norm and checks.

    :param A: measurement matrices, ``(m, d, d)`` shared or ``(B, m, d, d)``.
    :param b: measurements, ``(m,)`` or ``(B, m)``.
    :param X: the planted matrix for the test error.
    :param U0: initial factors, ``(B, d, p)``, of rank ``rank0`` and norm ``norm0``.
    :param lr: the step :math:`\eta`.
    :param steps: number of gradient steps :math:`K`.
    :param window: :math:`W`, one for the batch or one per element.
    :param tau: the threshold :math:`\tau` on the window's largest ratio, one or one per element.
    :param rank0: :math:`r_0`, the rank of ``U0``.
    :param norm0: :math:`\rho_0`, the Frobenius norm of ``U0``.
    :param rank_step: :math:`\Delta_\mathrm{rank}`.
    :param factor: the norm's shrink factor, in (0, 1).
    :param min_rank: the floor :math:`r \ge \mathrm{rank}(X^\natural)`.
    :param draw: ``(b, rank, norm) -> (d, p) array``: batch element ``b``'s fresh matrix (from
        that element's own generator, so a run never depends on what it is batched with).
    :param stop_at_min_rank: (ours, not the paper's) no restart once the run's rank is the
        floor ``min_rank``: the restart that reaches it is the last, then plain descent.
    :param desc: progress-bar label; None for no bar.
    :returns: a :class:`SensingRun` whose ``restarts`` list each element's restarts,
        ``fired`` what the rule saw at each, ``checks`` the ratio at every check, and
        ``U_snapshot`` the iterate at 90% of the steps.
    """
    B = U0.shape[0]
    windows = [int(w) for w in _per_element(window, B, "window")]
    taus = [float(v) for v in _per_element(tau, B, "tau")]
    stops = [bool(v) for v in _per_element(stop_at_min_rank, B, "stop_at_min_rank")]
    _check_restart_args(min(windows), factor, rank_step, min_rank, rank0)
    ranks = [rank0] * B
    norms = [float(norm0)] * B
    restarts: list[list[tuple[int, int, float]]] = [[] for _ in range(B)]
    fired: list[list[dict]] = [[] for _ in range(B)]
    checks: list[list[tuple[int, float]]] = [[] for _ in range(B)]
    groups: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        groups.setdefault(w, []).append(i)

    def restart(k: int, errors: torch.Tensor, test: torch.Tensor, U_k: torch.Tensor):
        which = []
        for w, members in groups.items():
            if not is_check(k, w):
                continue
            ratios = window_ratio(errors[:, members], k, w).cpu().tolist()
            for i, ratio in zip(members, ratios, strict=True):
                checks[i].append((k, ratio))
                # NaN < tau is False: a window with a non-finite error never restarts.
                if ratio < taus[i] and not (stops[i] and ranks[i] == min_rank):
                    which.append((i, ratio))
        if not which:
            return None
        idx = [i for i, _ in which]
        seen = torch.stack([errors[k, idx], test[k, idx], U_k[idx].flatten(-2).norm(dim=-1)]).cpu().tolist()
        fresh = []
        for j, (i, ratio) in enumerate(which):
            norms[i] *= factor
            ranks[i] = max(ranks[i] - rank_step, min_rank)
            restarts[i].append((k + 1, ranks[i], norms[i]))
            fired[i].append(
                {
                    "iteration": k + 1,
                    "rank": ranks[i],
                    "norm": norms[i],
                    "ratio": ratio,
                    "train_error": seen[0][j],
                    "test_error": seen[1][j],
                    "iterate_norm": seen[2][j],
                }
            )
            fresh.append(draw(i, ranks[i], norms[i]))

        def replace(U):
            U = U.clone()
            U[idx] = torch.as_tensor(np.stack(fresh), dtype=U.dtype).to(U.device)
            return U

        return replace

    at = snapshot_step(steps)
    U, train, test, steps_run, snap = _descent(
        A, b, X, U0, lr, steps, restart=restart, sync_every=min(windows), desc=desc, snapshot_at=at
    )
    run = _finish(U, train, test, steps_run, restarts, snapshot=snap, snapshot_at=at)
    run.fired, run.checks = fired, checks
    return run
