r"""Principal component pursuit by the accelerated proximal gradient method (APG).

The convex robust-PCA program (Candès, Li, Ma, Wright 2011)

.. math:: \min_{X, S} \; \|X\|_* + \lambda \|S\|_1 \quad \text{s.t.} \quad X + S = Y

is solved as in Lin, Ganesh, Wright, Wu, Chen, Ma (2009), "Fast convex optimization
algorithms for exact recovery of a corrupted low-rank matrix", Algorithm 2 (APG with
continuation): proximal gradient steps on the relaxed problem

.. math:: \min_{X, S} \; \mu \big(\|X\|_* + \lambda\|S\|_1\big) + \tfrac12 \|X + S - Y\|_F^2

whose smooth part has Lipschitz constant 2, with Nesterov momentum and a continuation
:math:`\mu_0 = \|Y\|_2`, :math:`\mu_{k+1} = \max(\eta\,\mu_k, \bar\mu)`, :math:`\eta = 0.9`,
:math:`\bar\mu = 10^{-9}\mu_0`. The run stops when the relative norm of the subgradient
residual (their eq. for :math:`S_{k+1}`) falls below ``tol``, or after ``max_iter`` steps.

Every tensor carries a leading batch dimension: one call solves many independent problems
(trials, grid points). Each problem stops at its own iteration, so its result does not
depend on what it was batched with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from .batching import batch_chunk, chunk_slices, map_chunks


@dataclass
class APGResult:
    """What :func:`apg_rpca` returns.

    :ivar X: low-rank estimates, ``(B, n, m)``.
    :ivar S: sparse estimates, ``(B, n, m)``.
    :ivar iterations: ``(B,)`` iterations each problem ran.
    :ivar residual: ``(B,)`` the relative subgradient residual at the last iteration.
    :ivar converged: ``(B,)`` True where the residual reached ``tol`` before ``max_iter``.
    """

    X: torch.Tensor
    S: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor


def rpca_objective(X: torch.Tensor, S: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\|X\|_* + \lambda\|S\|_1` per batch element."""
    lam_t = torch.as_tensor(lam, dtype=X.dtype, device=X.device).reshape(-1)
    return torch.linalg.matrix_norm(X, ord="nuc") + lam_t * S.abs().sum(dim=(-2, -1))


def soft_threshold(G: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    r"""Entrywise shrinkage :math:`\mathrm{sign}(G)\max(|G| - \tau, 0)`, the prox of
    :math:`\tau\|\cdot\|_1`; ``tau`` broadcasts against ``G``."""
    tau = torch.as_tensor(tau, dtype=G.dtype, device=G.device)
    return G - torch.clamp(G, -tau, tau)


def singular_value_threshold(G: torch.Tensor, tau: torch.Tensor, method: str = "gram") -> torch.Tensor:
    r"""Singular value shrinkage :math:`U \max(\Sigma - \tau, 0) V^\top`, the prox of
    :math:`\tau\|\cdot\|_*` (Cai, Candès, Shen 2010).

    :param G: ``(B, n, m)`` matrices.
    :param tau: ``(B, 1, 1)`` thresholds (or a scalar).
    :param method: ``"svd"``: from a full SVD. ``"gram"``: from the eigendecomposition
        :math:`G^\top G = V \Sigma^2 V^\top`, as :math:`G V \mathrm{diag}(\max(1 - \tau/\sigma, 0))
        V^\top`; a symmetric eigensolver is several times faster than an SVD for small
        matrices, and the singular values it gets wrong (those below
        :math:`\sqrt{\varepsilon}\,\sigma_{\max}`) contribute at most that much to the result.
    :returns: the shrunk matrices, shape of ``G``.
    """
    tau = torch.as_tensor(tau, dtype=G.dtype, device=G.device)
    if method == "svd":
        U, s, Vh = torch.linalg.svd(G, full_matrices=False)
        return (U * (s - tau.reshape(*tau.shape[:-2], 1)).clamp_min(0).unsqueeze(-2)) @ Vh
    if method == "gram":
        W, V, transpose = gram_shrink(G, tau)
        out = W @ V.mT
        return out.mT if transpose else out
    raise ValueError(f"method must be 'gram' or 'svd', got {method!r}")


def gram_shrink(G: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    r"""The factors of singular value shrinkage from the eigendecomposition of the smaller
    Gram matrix :math:`G^\top G = V \Sigma^2 V^\top`: the shrunk matrix is :math:`W V^\top`
    with :math:`W = G V \operatorname{diag}(\max(1 - \tau/\sigma, 0))`.

    :param G: ``(B, n, m)`` matrices.
    :param tau: ``(B, 1, 1)`` thresholds, a tensor of ``G``'s type and device.
    :returns: ``(W, V, transposed)``; where ``transposed``, the factors are those of
        ``G.mT`` (the wider case), so the shrunk matrix is ``(W @ V.mT).mT``.
    """
    transpose = G.shape[-2] < G.shape[-1]
    if transpose:
        G = G.mT
    evals, V = torch.linalg.eigh(G.mT @ G)
    sigma = evals.clamp_min(0).sqrt()
    t = tau.reshape(*tau.shape[:-2], 1)
    keep = sigma > t
    scale = torch.where(keep, 1 - t / torch.where(keep, sigma, 1), 0)
    return (G @ V) * scale.unsqueeze(-2), V, transpose


def apg_rpca(
    Y: torch.Tensor,
    lam: torch.Tensor | float,
    *,
    tol: float = 1e-7,
    max_iter: int = 10000,
    eta: float = 0.9,
    mu_floor: float = 1e-9,
    svt: str = "gram",
    mu: float | None = None,
    chunk: int | None = None,
) -> APGResult:
    r"""Accelerated proximal gradient with continuation for principal component pursuit.

    .. math:: \min_{X, S} \; \|X\|_* + \lambda \|S\|_1 \quad \text{s.t.} \quad X + S = Y

    Lin, Ganesh, Wright, Wu, Chen, Ma (2009), Algorithm 2, with Lipschitz constant
    :math:`L = 2`: from extrapolated points :math:`(Y_X, Y_S)` with momentum
    :math:`(t_{k-1} - 1)/t_k`, :math:`t_{k+1} = (1 + \sqrt{1 + 4t_k^2})/2`,

    .. math::
        X_{k+1} = \mathcal{D}_{\mu_k/2}\big(Y_X - \tfrac12(Y_X + Y_S - Y)\big), \qquad
        S_{k+1} = \mathcal{S}_{\lambda\mu_k/2}\big(Y_S - \tfrac12(Y_X + Y_S - Y)\big),

    (singular value and entrywise shrinkage), :math:`\mu_{k+1} = \max(\eta\mu_k, \bar\mu)`
    with :math:`\mu_0 = \|Y\|_2` and :math:`\bar\mu` = ``mu_floor`` :math:`\cdot\,\mu_0`.
    A problem stops when the relative subgradient residual

    .. math::
        \frac{\|(2(Y_X - X_{k+1}) + T,\; 2(Y_S - S_{k+1}) + T)\|_F}
             {2 \max(1, \|(X_{k+1}, S_{k+1})\|_F)}, \qquad T = X_{k+1} + S_{k+1} - Y_X - Y_S,

    is at most ``tol``.

    :param Y: observations, ``(B, n, m)``.
    :param lam: :math:`\lambda`, a scalar or one per problem ``(B,)``; the paper of the
        experiments (You et al. 2020) uses :math:`1/\sqrt{n}`.
    :param tol: stopping tolerance on the relative subgradient residual (Lin et al.: 1e-7).
    :param max_iter: iteration cap per problem.
    :param eta: continuation factor :math:`\eta`.
    :param mu_floor: :math:`\bar\mu / \mu_0`.
    :param svt: how singular values are shrunk, see :func:`singular_value_threshold`.
    :param mu: a fixed :math:`\mu` instead of the continuation (Lin et al.'s
        ``continuationFlag = 0``): then the relaxed problem at this :math:`\mu` is solved.
    :param chunk: how many problems run together; None chooses by device. On CPU the
        chunks are shared among torch's threads (:mod:`implicit_bias.batching`): batched
        eigensolvers otherwise run one matrix after another on one core.
    :returns: an :class:`APGResult`.
    """
    if Y.ndim != 3:
        raise ValueError(f"Y must be (B, n, m), got shape {tuple(Y.shape)}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    B = Y.shape[0]
    lam_t = torch.as_tensor(lam, dtype=Y.dtype, device=Y.device).reshape(-1, 1, 1)
    if lam_t.numel() not in (1, B):
        raise ValueError(f"lam must be a scalar or have one value per problem ({B})")
    if bool((lam_t <= 0).any()):
        raise ValueError("lam must be > 0")
    lam_t = lam_t.expand(B, 1, 1)
    if mu is not None and not mu > 0:
        raise ValueError(f"mu must be > 0, got {mu}")
    if chunk is None:
        chunk = batch_chunk(Y.shape[-2] * Y.shape[-1], Y.dtype, Y.device, B, buffers=16)
    parts = map_chunks(
        lambda c: _apg_chunk(Y[c], lam_t[c], tol=tol, max_iter=max_iter, eta=eta, mu_floor=mu_floor, svt=svt, mu=mu),
        chunk_slices(B, chunk),
        Y.device,
    )
    return APGResult(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(APGResult)))


def _fro(A: torch.Tensor) -> torch.Tensor:
    """Frobenius norm over the last two dimensions."""
    return torch.linalg.vector_norm(A, dim=(-2, -1))


def _apg_chunk(Y, lam_t, *, tol, max_iter, eta, mu_floor, svt, mu) -> APGResult:
    """:func:`apg_rpca` on one chunk of problems (arguments checked there)."""
    B = Y.shape[0]
    lipschitz = 2.0
    if mu is None:
        mu0 = torch.linalg.matrix_norm(Y, ord=2).reshape(B, 1, 1)
        mu_bar = mu_floor * mu0
    else:
        mu0 = mu_bar = torch.full((B, 1, 1), float(mu), dtype=Y.dtype, device=Y.device)

    X_out, S_out = torch.zeros_like(Y), torch.zeros_like(Y)
    iters = torch.zeros(B, dtype=torch.long, device=Y.device)
    resid = torch.full((B,), float("nan"), dtype=Y.dtype, device=Y.device)
    conv = torch.zeros(B, dtype=torch.bool, device=Y.device)

    # State of the problems still running; finished ones are moved to the outputs, so the
    # batch shrinks and no work is spent on them.
    active = torch.arange(B, device=Y.device)
    D, lam_a, mu, mu_min = Y, lam_t, mu0.clone(), mu_bar
    X = X_prev = torch.zeros_like(Y)
    S = S_prev = torch.zeros_like(Y)
    t, t_prev = 1.0, 1.0
    for k in range(1, max_iter + 1):
        w = (t_prev - 1.0) / t
        # Y_X = X + w (X - X_prev), Y_S likewise (w = 0 at the first iteration).
        YX = torch.lerp(X, X_prev, -w) if w else X
        YS = torch.lerp(S, S_prev, -w) if w else S
        YXS = YX + YS
        half_grad = (YXS - D).div_(lipschitz)
        X_new = singular_value_threshold(YX - half_grad, mu / lipschitz, svt)
        S_new = soft_threshold(YS - half_grad, lam_a * mu / lipschitz)
        t_prev, t = t, (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        T = (X_new + S_new).sub_(YXS)
        sub = torch.hypot(_fro((YX - X_new).mul_(lipschitz).add_(T)), _fro((YS - S_new).mul_(lipschitz).add_(T)))
        size = torch.hypot(_fro(X_new), _fro(S_new))
        crit = sub / (lipschitz * size.clamp_min(1.0))
        # Non-finite residuals end a problem too (recorded as not converged).
        done = (crit <= tol) | ~torch.isfinite(crit)
        if k == max_iter:
            done = torch.ones_like(done)
        mu = torch.maximum(eta * mu, mu_min)
        X_prev, X, S_prev, S = X, X_new, S, S_new
        if bool(done.any()):
            idx = active[done]
            X_out[idx], S_out[idx] = X[done], S[done]
            iters[idx] = k
            resid[idx] = crit[done]
            conv[idx] = crit[done] <= tol
            keep = ~done
            if not bool(keep.any()):
                break
            active = active[keep]
            D, lam_a, mu, mu_min = D[keep], lam_a[keep], mu[keep], mu_min[keep]
            X, X_prev, S, S_prev = X[keep], X_prev[keep], S[keep], S_prev[keep]
    return APGResult(X_out, S_out, iters, resid, conv)


def pcp_lambda(lam: float | None, n: int) -> float:
    """The weight of the l1 term of principal component pursuit; None means 1/sqrt(n), the
    choice of Candès, Li, Ma, Wright (2011) for n x n matrices that the paper uses."""
    return 1.0 / math.sqrt(n) if lam is None else float(lam)
