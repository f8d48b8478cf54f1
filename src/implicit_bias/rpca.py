r"""Robust PCA: the planted problem, double over-parameterization (DOP) and MF-l1.

Problem (You, Zhu, Qu, Ma 2020, Sec. 4.1): :math:`Y = X_* + S_*` with
:math:`X_* = U_* U_*^\top`, :math:`U_* \in \mathbb{R}^{n\times r}` standard Gaussian, and
:math:`S_*` holding :math:`\mathrm{round}(p n^2)` entries drawn from :math:`N(0, 10^2)` at
uniformly random positions.

Every solver here is batched: tensors carry a leading batch dimension ``B`` (trials,
learning-rate ratios, grid points), so one call runs many independent problems.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from .batching import (
    batch_chunk,
    chunk_slices,
    map_chunks,
    numpy_blas_controllable,
    numpy_blas_threads,
    single_threaded,
)
from .descent import DescentResult, Recorder, check_descent_args, record_steps
from .progress import progress_bar


@dataclass
class RPCAInstance:
    """One planted robust-PCA problem (NumPy, float64)."""

    X: np.ndarray
    S: np.ndarray

    @property
    def Y(self) -> np.ndarray:
        return self.X + self.S


def rpca_problem(n: int, rank: int, p: float, rng: np.random.Generator, outlier_std: float = 10.0) -> RPCAInstance:
    """Draw a planted robust-PCA instance.

    :param n: matrix size.
    :param rank: rank ``r`` of :math:`X_*` (``0 <= r <= n``).
    :param p: fraction of corrupted entries, in ``[0, 1]``.
    :param rng: the trial's NumPy generator (the only source of randomness).
    :param outlier_std: standard deviation of the corruptions (the paper: 10).
    :returns: the instance.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= rank <= n:
        raise ValueError(f"rank must be in [0, n={n}], got {rank}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    U = rng.standard_normal((n, rank))
    X = U @ U.T
    S = np.zeros(n * n)
    count = int(round(p * n * n))
    where = rng.choice(n * n, size=count, replace=False)
    S[where] = rng.normal(0.0, outlier_std, size=count)
    return RPCAInstance(X=X, S=S.reshape(n, n))


def relative_error(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    r""":math:`\|A - B\|_F / \|B\|_F` over the last two dimensions (0/0 counts as 0)."""
    num = torch.linalg.matrix_norm(estimate - truth)
    den = torch.linalg.matrix_norm(truth)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), num)


# ---------------------------------------------------------------------------------------
# Double over-parameterization
# ---------------------------------------------------------------------------------------


def dop_objective(U: torch.Tensor, g: torch.Tensor, h: torch.Tensor, Y: torch.Tensor):
    r"""The DOP loss, per batch element.

    .. math:: f(U, g, h) = \tfrac14 \| U U^\top + g\circ g - h\circ h - Y \|_F^2
    """
    R = U @ U.mT + g * g - h * h - Y
    return 0.25 * (R * R).sum(dim=(-2, -1))


def dop_gradients(U: torch.Tensor, g: torch.Tensor, h: torch.Tensor, Y: torch.Tensor):
    r"""Closed-form gradients of :func:`dop_objective`.

    With :math:`R = UU^\top + g\circ g - h\circ h - Y`:
    :math:`\nabla_U f = \tfrac12 (R + R^\top) U`, :math:`\nabla_g f = R\circ g`,
    :math:`\nabla_h f = -R\circ h`.

    :returns: ``(grad_U, grad_g, grad_h)``.
    """
    R = U @ U.mT + g * g - h * h - Y
    return 0.5 * (R + R.mT) @ U, R * g, -R * h


def dop_descent(
    Y: torch.Tensor,
    U0: torch.Tensor,
    g0: torch.Tensor,
    h0: torch.Tensor,
    alpha: torch.Tensor | float,
    lr: float,
    *,
    steps: int,
    record_every: int = 100,
    X_true: torch.Tensor | None = None,
    S_true: torch.Tensor | None = None,
    desc: str | None = None,
    chunk: int | None = None,
    products: str | None = None,
) -> DescentResult:
    r"""Gradient descent with discrepant learning rates on the DOP loss (paper eq. 6).

    .. math::
        U \leftarrow U - \tau \nabla_U f, \qquad
        g \leftarrow g - \alpha\tau \nabla_g f, \qquad
        h \leftarrow h - \alpha\tau \nabla_h f

    with :math:`f` of :func:`dop_objective`. Output :math:`X = UU^\top`,
    :math:`S = g\circ g - h\circ h`.

    :param Y: observations, ``(B, n, n)``.
    :param U0: initial factor, ``(B, n, k)``; the paper uses ``k = n``.
    :param g0: initial ``g``, ``(B, n, n)``; :param h0: initial ``h``, same shape.
    :param alpha: learning-rate ratio, a scalar or one per batch element ``(B,)``.
    :param lr: the step :math:`\tau` for ``U``.
    :param steps: number of gradient steps.
    :param record_every: record metrics every this many steps (and at the last).
    :param X_true: ground truth for ``rel_err_X`` curves (optional).
    :param S_true: ground truth for ``rel_err_S`` curves (optional).
    :param desc: progress-bar label; None for no bar.
    :param chunk: how many batch elements run together; None chooses by device (see
        :func:`batch_chunk`). Results do not depend on it.
    :param products: what computes the two products of a step, ``"torch"`` or ``"numpy"``
        (CPU only); None chooses by shape (see :func:`dop_plan`). Results agree to rounding.
    :returns: a :class:`DescentResult`; non-finite runs are flagged, not raised.
    """
    check_descent_args(lr, steps)
    B = Y.shape[0]
    if not (U0.shape[0] == g0.shape[0] == h0.shape[0] == B):
        raise ValueError(
            f"Y, U0, g0, h0 must share the batch size, got {Y.shape[0]}, {U0.shape[0]}, {g0.shape[0]}, {h0.shape[0]}"
        )
    alpha_t = torch.as_tensor(alpha, dtype=Y.dtype, device=Y.device).reshape(-1, 1, 1)
    if alpha_t.numel() not in (1, B):
        raise ValueError(f"alpha must be a scalar or have one value per batch element ({B})")
    if bool((alpha_t <= 0).any()):
        raise ValueError("alpha must be > 0")
    plan = dop_plan(Y.shape[-1], U0.shape[-1], B, Y.dtype, Y.device, chunk=chunk, products=products)
    # Chunks run to the end one by one (a chunk's state stays in cache from step to step)
    # and, on CPU, on all threads at once; see :mod:`implicit_bias.batching`.
    slices = chunk_slices(B, plan.chunk)
    names = ["loss"] + (["rel_err_X"] if X_true is not None else []) + (["rel_err_S"] if S_true is not None else [])
    marks = record_steps(steps, record_every)
    with progress_bar(steps * len(slices), desc) as bar, contextlib.ExitStack() as threads:
        if plan.products == "numpy":
            threads.enter_context(numpy_blas_threads(plan.blas_threads))
        if Y.device.type == "cpu" and plan.threads == 1 and plan.torch_threads == 1:
            threads.enter_context(single_threaded())
        parts = map_chunks(
            lambda c: _dop_chunk(
                Y[c],
                U0[c],
                g0[c],
                h0[c],
                alpha_t[c] if alpha_t.numel() > 1 else alpha_t,
                lr=lr,
                steps=steps,
                record_every=record_every,
                names=names,
                X_true=None if X_true is None else X_true[c],
                S_true=None if S_true is None else S_true[c],
                bar=bar,
                numpy_products=plan.products == "numpy",
            ),
            slices,
            Y.device,
            plan.threads,
        )
    # A chunk whose runs all blew up stops early: its curves are NaN from there on.
    filled = max(len(p.iterations) for p in parts)
    return DescentResult(
        X=torch.cat([p.X for p in parts]),
        S=torch.cat([p.S for p in parts]),
        iterations=torch.tensor(marks[:filled]),
        curves={k: torch.cat([p.curves[k] for p in parts], dim=1)[:filled] for k in names},
        diverged=torch.cat([p.diverged for p in parts]),
        steps_run=max(p.steps_run for p in parts),
    )


#: The smallest n whose DOP products go to NumPy's BLAS on CPU (:func:`dop_plan`).
NUMPY_PRODUCTS_MIN_N = 100


@dataclass(frozen=True)
class DopPlan:
    """How :func:`dop_descent` runs a batch.

    :ivar chunk: batch elements per chunk.
    :ivar threads: Python threads the chunks are shared among (:func:`map_chunks`).
    :ivar torch_threads: threads of each chunk's torch kernels.
    :ivar blas_threads: threads of each chunk's NumPy products (with ``products="numpy"``).
    :ivar products: ``"torch"`` or ``"numpy"``: what computes a step's two products.
    """

    chunk: int
    threads: int
    torch_threads: int
    blas_threads: int
    products: str


def dop_plan(
    n: int,
    k: int,
    batch: int,
    dtype: torch.dtype,
    device: torch.device | str,
    *,
    chunk: int | None = None,
    products: str | None = None,
) -> DopPlan:
    """How to run a DOP batch of ``batch`` problems with ``Y`` of ``n x n`` and ``U`` of ``n x k``.

    On CPU a step is two products (``U U^T`` and ``T U``) and a few passes over ``n x n``
    buffers. For ``n >= NUMPY_PRODUCTS_MIN_N`` in float64 the products dominate, and NumPy's
    BLAS computes them faster than torch's: OpenBLAS computes ``U U^T`` as a symmetric
    product (half the flops) and, on the machines measured (benchmarks/bench_rpca.py), its
    general products are faster too; so they go to NumPy there, where its thread count can
    be set. In float32, and below that size, torch's batched kernels were as fast or faster. Several
    chunks share the threads, one thread each. A lone chunk (a batch of one) of small
    problems runs on one thread (splitting a 50 x 50 product among threads costs more than
    it saves, and much more on a busy machine); one of large problems gives all of torch's
    threads to its products, and its other passes one thread when NumPy computes the
    products (two thread pools spinning on the same cores slow each other down).
    Off the CPU: the whole batch as one chunk, torch's products.

    :param chunk: batch elements per chunk; None: :func:`batch_chunk`.
    :param products: ``"torch"``, ``"numpy"`` (CPU only) or None (by shape, as above).
    :returns: the plan.
    """
    if products not in (None, "torch", "numpy"):
        raise ValueError(f"products must be 'torch', 'numpy' or None, got {products!r}")
    cpu = torch.device(device).type == "cpu"
    if products == "numpy" and not (cpu and dtype in (torch.float32, torch.float64)):
        raise ValueError("NumPy's products need float32 or float64 tensors on the CPU")
    if chunk is None:
        chunk = batch_chunk(n * max(n, k), dtype, device, batch)
    count = len(chunk_slices(batch, chunk))
    if products is None:
        fits = cpu and dtype == torch.float64 and n >= NUMPY_PRODUCTS_MIN_N
        products = "numpy" if fits and numpy_blas_controllable() else "torch"
    if not cpu:
        return DopPlan(chunk, 1, torch.get_num_threads(), 1, products)
    every = torch.get_num_threads()
    threads = max(1, min(every, count))
    if threads > 1 or n < NUMPY_PRODUCTS_MIN_N:
        return DopPlan(chunk, threads, 1, 1, products)
    if products == "numpy":
        return DopPlan(chunk, 1, 1, every, products)
    return DopPlan(chunk, 1, every, 1, products)


def _numpy_gram(U: torch.Tensor, out: torch.Tensor) -> None:
    """``out = U U^T`` by NumPy, which takes a matrix times its own transpose as BLAS syrk."""
    u = U.detach().numpy()
    np.matmul(u, u.transpose(0, 2, 1), out=out.detach().numpy())


def _dop_chunk(Y, U0, g0, h0, alpha_t, *, lr, steps, record_every, names, X_true, S_true, bar, numpy_products=False):
    """:func:`dop_descent` on one chunk of the batch; its curves keep every recorded row
    (NaN where the chunk stopped early), so that chunks concatenate. With
    ``numpy_products`` NumPy computes the step's two products (into the work buffers)."""
    B = Y.shape[0]
    U, g, h = U0.clone(), g0.clone(), h0.clone()
    # Work buffers, allocated once: the loop below runs in place, so a step allocates
    # nothing and launches few kernels (what bounds small problems on CPU and GPU alike).
    U_next = torch.empty_like(U)
    R = torch.empty(torch.broadcast_shapes(Y.shape, g.shape), dtype=Y.dtype, device=Y.device)
    T = torch.empty_like(R)
    per_element = alpha_t.numel() > 1
    step_gh = alpha_t * lr if per_element else float(alpha_t) * lr
    rec = Recorder(steps, record_every, names, B, Y)
    diverged = torch.zeros(B, dtype=torch.bool, device=Y.device)
    neg_Y = -Y

    def record(k, R):
        m = {"loss": 0.25 * (R * R).sum(dim=(-2, -1))}
        if X_true is not None:
            m["rel_err_X"] = relative_error(U @ U.mT, X_true)
        if S_true is not None:
            m["rel_err_S"] = relative_error(g * g - h * h, S_true)
        rec.put(k, **m)
        return m["loss"]

    steps_run = 0
    for k in range(steps + 1):
        # R = U U^T + g*g - h*h - Y
        if numpy_products:
            _numpy_gram(U, R)
            R.add_(neg_Y)
            R.addcmul_(g, g)
            R.addcmul_(h, h, value=-1.0)
        else:
            torch.addcmul(neg_Y, g, g, out=R)
            R.addcmul_(h, h, value=-1.0)
            R.baddbmm_(U, U.mT)
        if rec.wants(k):
            loss = record(k, R)
            # The only host synchronisation: at recorded steps, to stop runs that blew up.
            diverged |= ~torch.isfinite(loss)
            if bool(diverged.all()):
                bar.update(steps - k)
                break
        if k == steps:
            break
        # U <- U - tau/2 (R + R^T) U
        torch.add(R, R.mT, out=T)
        if numpy_products:
            np.matmul(T.numpy(), U.detach().numpy(), out=U_next.numpy())
            torch.add(U, U_next, alpha=-0.5 * lr, out=U_next)
        else:
            torch.baddbmm(U, T, U, alpha=-0.5 * lr, out=U_next)
        U, U_next = U_next, U
        # g <- g - alpha tau R*g,  h <- h + alpha tau R*h
        if per_element:
            torch.mul(R, step_gh, out=T)
            g.addcmul_(T, g, value=-1.0)
            h.addcmul_(T, h)
        else:
            g.addcmul_(R, g, value=-step_gh)
            h.addcmul_(R, h, value=step_gh)
        steps_run = k + 1
        bar.update(1)
    X = U @ U.mT
    S = g * g - h * h
    diverged |= ~torch.isfinite(X).all(dim=(-2, -1)) | ~torch.isfinite(S).all(dim=(-2, -1))
    its, _ = rec.result()
    return DescentResult(X, S, its, rec.values, diverged, steps_run)


# ---------------------------------------------------------------------------------------
# Matrix factorization with an l1 loss
# ---------------------------------------------------------------------------------------


def mf_l1_objective(U: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    r""":math:`\| U U^\top - Y \|_1` (entrywise), per batch element."""
    return (U @ U.mT - Y).abs().sum(dim=(-2, -1))


def mf_l1_subgradient(U: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    r"""A subgradient of :func:`mf_l1_objective`: :math:`(\mathrm{sign}(R) + \mathrm{sign}(R)^\top) U`,
    :math:`R = UU^\top - Y`."""
    sgn = torch.sign(U @ U.mT - Y)
    return (sgn + sgn.mT) @ U


def mf_l1_descent(
    Y: torch.Tensor,
    U0: torch.Tensor,
    lr: float,
    *,
    steps: int,
    record_every: int = 100,
    X_true: torch.Tensor | None = None,
    desc: str | None = None,
) -> DescentResult:
    r"""Subgradient descent on :math:`\min_U \|UU^\top - Y\|_1` with a constant step.

    ``U0`` of shape ``(B, n, r)`` gives the exact-rank method; ``(B, n, n)`` the
    over-parameterized one, which fits the corruptions given enough steps (You et al.,
    Fig. 1a).

    :returns: a :class:`DescentResult` with ``S`` set to zeros.
    """
    check_descent_args(lr, steps)
    B = Y.shape[0]
    U = U0.clone()
    names = ["loss"] + (["rel_err_X"] if X_true is not None else [])
    rec = Recorder(steps, record_every, names, B, Y)
    diverged = torch.zeros(B, dtype=torch.bool, device=Y.device)
    steps_run = 0
    with progress_bar(steps, desc) as bar:
        for k in range(steps + 1):
            R = U @ U.mT - Y
            if rec.wants(k):
                m = {"loss": R.abs().sum(dim=(-2, -1))}
                if X_true is not None:
                    m["rel_err_X"] = relative_error(R + Y, X_true)
                rec.put(k, **m)
                diverged |= ~torch.isfinite(m["loss"])
                if bool(diverged.all()):
                    break
            if k == steps:
                break
            sgn = torch.sign(R)
            U = torch.baddbmm(U, sgn + sgn.mT, U, alpha=-lr)
            steps_run = k + 1
            bar.update(1)
    X = U @ U.mT
    diverged |= ~torch.isfinite(X).all(dim=(-2, -1))
    its, curves = rec.result()
    return DescentResult(X, torch.zeros_like(X), its, curves, diverged, steps_run)


def learning_rate_ratio(alpha: float | None, n: int) -> float:
    """DOP's ratio alpha of the step of ``g, h`` to that of ``U``; None means sqrt(n), the
    paper's choice (You et al. 2020, Sec. 4.1)."""
    return math.sqrt(n) if alpha is None else float(alpha)
