r"""The convex programs of the suite, solved to a certified optimum.

Three programs of You, Zhu, Qu, Ma (2020) are checked against their convex counterparts:

* **Principal component pursuit** (Candès, Li, Ma, Wright 2011), the robust-PCA program
  whose phase transition the paper compares DOP with (Sec. 4.1, Fig. 2b):

  .. math:: \min_{X, S} \; \|X\|_* + \lambda \|S\|_1 \quad \text{s.t.} \quad X + S = Y.

* **PSD principal component pursuit**, the program the paper pairs with DOP at
  :math:`\lambda = 1/\alpha` (Sec. 2.3):

  .. math:: \min_{X \succeq 0,\, S} \; \operatorname{tr}(X) + \lambda \|S\|_1
            \quad \text{s.t.} \quad X + S = Y.

* **Robust sensing with commuting measurements** (Theorem 1), which reduces exactly to a
  linear program (:func:`commuting_sensing_lp`).

The two matrix programs are solved batched over a leading dimension ``B`` by the inexact
augmented Lagrangian method of Lin, Chen, Ma (2010), "The augmented Lagrange multiplier
method for exact recovery of corrupted low-rank matrices" (their Algorithm 5: an
:math:`X`-step by singular value shrinkage, an :math:`S`-step by entrywise shrinkage, a
multiplier step), with two changes that make it reach a certificate rather than only a
small residual:

1. **The penalty ends bounded.** Lin et al. let :math:`\mu_k = \rho^k \mu_0` grow to
   :math:`10^7 \mu_0`; the iterates then freeze at a feasible point that need not be
   optimal (on a rank-10, 10%-corrupted problem at n = 50: 11% away from the optimal
   :math:`X` and 0.5% above the optimal value), and the multiplier never becomes dual
   feasible. Here :math:`\mu` grows from Lin et al.'s :math:`\mu_0 = 1.25/\|Y\|_2` by
   :math:`\rho = 1.5` for 20 iterations, as theirs does (on easy problems, a low rank and
   few corruptions, this already reaches the certificate, in as many iterations), then
   drops to :math:`\mu_{\max} = 0.4\sqrt{nm}/\|Y\|_2` and stays, warm-started from the
   multiplier reached: the method becomes the alternating direction method of multipliers
   at a fixed penalty, which converges to a primal-dual optimal pair.
2. **Anderson acceleration.** With :math:`\mu` fixed, one iteration is a fixed-point map
   :math:`G \mapsto G + Y - X(G) - S(G)` of the :math:`X`-step input
   :math:`G = Y - S + \Lambda/\mu` (Douglas-Rachford splitting). It is accelerated by
   Anderson's type-II extrapolation over the last ``memory`` iterates (Walker, Ni 2011;
   Fu, Zhang, Boyd 2020, "Anderson accelerated Douglas-Rachford splitting").

**The certificate.** At every iteration the point :math:`(X, Y - X)` is primal feasible,
with objective :math:`P`; a multiplier scaled into the dual feasible set gives a lower
bound :math:`D = \langle \Lambda_f, Y \rangle` on the optimum (weak duality; the duals are
stated at :func:`pcp` and :func:`psd_pcp`). A problem stops, on its own, once
:math:`(P - D)/\max(1, |P|) \le` ``tol``. Two multipliers are at hand:
:math:`\Lambda_X = \mu(G - X)`, whose spectral (PCP) or largest-eigenvalue (PSD) norm is at
most 1 by construction of the shrinkage, and :math:`\Lambda_S`, the multiplier of the
:math:`S`-step, whose entries are at most :math:`\lambda` by construction. Their mixtures
:math:`\theta\Lambda_X + (1-\theta)\Lambda_S` on a grid of :math:`\theta` are divided by the
largest of 1 and bounds on their two dual norms (both functions are sublinear), and the
best value is kept. Every ``check_every`` iterations a cheap screen runs (the norm of
:math:`\Lambda_X` taken as 1, that of :math:`\Lambda_S` bounded by
:math:`1 + \|\Lambda_S - \Lambda_X\|_F`); only problems that pass it get the dual norms
computed by a symmetric eigenvalue solver, and only computed bounds certify.

Certificates are meant for float64; in float32 a ``tol`` below about 1e-5 is out of reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from .apg import gram_shrink
from .batching import batch_chunk, chunk_slices, map_chunks, single_threaded


@dataclass
class PCPResult:
    """What :func:`pcp` and :func:`psd_pcp` return, per problem.

    :ivar X: the low-rank estimates, ``(B, n, m)``; the certified primal point is
        :math:`(X, Y - X)`.
    :ivar S: the sparse estimates of the last :math:`S`-step, ``(B, n, m)``; exactly sparse,
        and :math:`Y - X` up to ``residual``.
    :ivar iterations: ``(B,)`` iterations each problem ran.
    :ivar gap: ``(B,)`` the certified relative duality gap :math:`(P - D)/\\max(1, |P|)` at
        the end, computed from verified dual norms (for certified and uncertified problems
        alike).
    :ivar residual: ``(B,)`` :math:`\\|Y - X - S\\|_F / \\|Y\\|_F`.
    :ivar certified: ``(B,)`` True where ``gap <= tol``.
    :ivar primal: ``(B,)`` :math:`P`, the objective at :math:`(X, Y - X)` (the nuclear norm
        by an upper bound, see :func:`pcp`).
    :ivar dual: ``(B,)`` :math:`D = \\langle \\Lambda_f, Y\\rangle`, a lower bound on the optimum.
    :ivar dual_certificate: ``(B, n, m)`` the dual feasible :math:`\\Lambda_f`.
    """

    X: torch.Tensor
    S: torch.Tensor
    iterations: torch.Tensor
    gap: torch.Tensor
    residual: torch.Tensor
    certified: torch.Tensor
    primal: torch.Tensor
    dual: torch.Tensor
    dual_certificate: torch.Tensor


# ---------------------------------------------------------------------------------------
# Proximal steps and dual norms
# ---------------------------------------------------------------------------------------


def shrink_singular_values(G: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Singular value shrinkage :math:`X = U \max(\Sigma - \tau, 0) V^\top`, the prox of
    :math:`\tau\|\cdot\|_*` (Cai, Candès, Shen 2010), with an upper bound on :math:`\|X\|_*`.

    As in :func:`implicit_bias.apg.singular_value_threshold` (``method="gram"``): from the
    eigendecomposition :math:`G^\top G = V \Sigma^2 V^\top` (of the smaller Gram matrix),
    :math:`X = W V^\top` with :math:`W = G V \operatorname{diag}(\max(1 - \tau/\sigma, 0))`.
    The eigensolver gets singular values below :math:`\sqrt{\varepsilon}\,\sigma_{\max}` wrong
    in relative terms, so :math:`X` is an inexact prox there; the bound returned does not
    depend on that accuracy: :math:`\|X\|_* = \|\sum_i w_i v_i^\top\|_* \le \sum_i \|w_i\|_2`
    (triangle inequality over rank-one terms, :math:`\|v_i\| = 1`), which holds for the
    matrix actually returned up to rounding of order :math:`n\varepsilon\|X\|_F`, and is an
    equality when the columns of :math:`W` are orthogonal, as they are to the eigensolver's
    accuracy. A certificate built on it can only be conservative.

    :param G: ``(B, n, m)`` matrices.
    :param tau: ``(B, 1, 1)`` thresholds (or a scalar).
    :returns: ``(X, bound)``, the shrunk matrices and ``(B,)`` upper bounds on their nuclear norms.
    """
    W, V, transpose = gram_shrink(G, torch.as_tensor(tau, dtype=G.dtype, device=G.device))
    X = W @ V.mT
    bound = torch.linalg.vector_norm(W, dim=-2).sum(-1)
    return (X.mT if transpose else X), bound


def shrink_eigenvalues(G: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The prox of :math:`\tau \operatorname{tr}(X) + \iota_{X \succeq 0}` at a square ``G``:
    :math:`X = Q \max(\Theta - \tau, 0) Q^\top` for the symmetric part
    :math:`(G + G^\top)/2 = Q \Theta Q^\top`, with its trace.

    :param G: ``(B, n, n)`` matrices (not necessarily symmetric).
    :param tau: ``(B, 1, 1)`` thresholds (or a scalar).
    :returns: ``(X, trace)``: symmetric PSD matrices (up to rounding) and ``(B,)`` traces.
    """
    tau = torch.as_tensor(tau, dtype=G.dtype, device=G.device)
    theta, Q = torch.linalg.eigh(0.5 * (G + G.mT))
    d = (theta - tau.reshape(*tau.shape[:-2], 1)).clamp_min(0)
    F = Q * d.sqrt().unsqueeze(-2)
    X = F @ F.mT
    X = 0.5 * (X + X.mT)
    return X, X.diagonal(dim1=-2, dim2=-1).sum(-1)


def spectral_norm(L: torch.Tensor) -> torch.Tensor:
    r""":math:`\|L\|_2` from the largest eigenvalue of the smaller Gram matrix, ``(B,)``.

    The largest eigenvalue of a symmetric matrix is computed to a relative accuracy of
    order :math:`n\varepsilon` (Demmel 1997, Sec. 5.2), so its root is accurate to about
    half of that; callers that need an upper bound inflate it by :func:`_safety`.
    """
    gram = L.mT @ L if L.shape[-2] >= L.shape[-1] else L @ L.mT
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).sqrt()


def largest_symmetric_eigenvalue(L: torch.Tensor) -> torch.Tensor:
    r""":math:`\lambda_{\max}((L + L^\top)/2)`, ``(B,)``, the dual norm of PSD pursuit."""
    return torch.linalg.eigvalsh(0.5 * (L + L.mT))[..., -1]


def _safety(L: torch.Tensor) -> float:
    """Relative inflation of computed dual norms that covers the eigensolver's error."""
    return 1.0 + 8.0 * max(L.shape[-2:]) * torch.finfo(L.dtype).eps


def _fro(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(A, dim=(-2, -1))


def _inner(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return (A * B).sum(dim=(-2, -1))


# ---------------------------------------------------------------------------------------
# The batched solver
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Program:
    """What distinguishes the two matrix programs for the shared solver.

    :ivar prox: ``(G, tau) -> (X, f(X))``, the prox of :math:`\\tau f` and the value of
        :math:`f` (or an upper bound on it) at its output.
    :ivar dual_norm: the sublinear function :math:`N` of the dual constraint
        :math:`N(\\Lambda) \\le 1` (spectral norm, or largest eigenvalue of the symmetric part).
    """

    prox: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    dual_norm: Callable[[torch.Tensor], torch.Tensor]


_PCP = _Program(shrink_singular_values, spectral_norm)
_PSD_PCP = _Program(shrink_eigenvalues, largest_symmetric_eigenvalue)


# The first iterations follow Lin et al.'s schedule, mu_0 rho^(k - 1), past mu_max (see pcp).
_LIN_STEPS = 20


@dataclass(frozen=True)
class _Settings:
    tol: float
    max_iter: int
    mu0: float
    rho: float
    mu_max: float
    memory: int
    regularization: float
    check_every: int

    def check(self) -> None:
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if not 0 < self.mu0 <= self.mu_max < math.inf or not self.rho >= 1:
            raise ValueError(f"need 0 < mu0 <= mu_max < inf and rho >= 1, got {self.mu0}, {self.mu_max}, {self.rho}")
        if self.memory < 0 or not self.regularization >= 0 or self.check_every < 1:
            raise ValueError("need memory >= 0, regularization >= 0 and check_every >= 1")

    def mu(self, k: int) -> float:
        """:math:`\\mu_k \\|Y\\|_2` at iteration ``k`` (from 1): :math:`\\mu_0\\rho^{k-1}` for the
        first ``_LIN_STEPS`` iterations (longer if that has not reached :math:`\\mu_{\\max}`), then
        :math:`\\mu_{\\max}`."""
        if self.rho == 1 or self.mu0 == self.mu_max:
            return self.mu0
        growth = math.ceil(math.log(self.mu_max / self.mu0) / math.log(self.rho))
        growth = max(growth, _LIN_STEPS)
        return self.mu_max if k > growth else self.mu0 * self.rho ** (k - 1)


def _settings(Y: torch.Tensor, *, tol, max_iter, mu0, rho, mu_max, memory, regularization, check_every) -> _Settings:
    r"""The solver's settings, with the default :math:`\mu_{\max}\|Y\|_2 = 0.4\sqrt{nm}`."""
    if mu_max is None:
        mu_max = max(0.4 * math.sqrt(Y.shape[-2] * Y.shape[-1]), mu0)
    return _Settings(tol, max_iter, mu0, rho, mu_max, memory, regularization, check_every)


def _check(Y: torch.Tensor, lam, square: bool) -> torch.Tensor:
    """Validates ``Y`` and ``lam``; returns ``lam`` as ``(B, 1, 1)``."""
    if Y.ndim != 3:
        raise ValueError(f"Y must be (B, n, m), got shape {tuple(Y.shape)}")
    if square and Y.shape[-2] != Y.shape[-1]:
        raise ValueError(f"Y must hold square matrices, got shape {tuple(Y.shape)}")
    if not Y.is_floating_point():
        raise ValueError(f"Y must be floating point, got {Y.dtype}")
    if Y.shape[0] == 0:
        raise ValueError("Y holds no problems")
    B = Y.shape[0]
    lam_t = torch.as_tensor(lam, dtype=Y.dtype, device=Y.device).reshape(-1, 1, 1)
    if lam_t.numel() not in (1, B):
        raise ValueError(f"lam must be a scalar or have one value per problem ({B})")
    if not bool(((lam_t > 0) & torch.isfinite(lam_t)).all()):
        raise ValueError("lam must be finite and > 0")
    return lam_t.expand(B, 1, 1)


# Matrices up to this many entries run their kernels single-threaded (see _solve).
_SMALL = 256 * 256


def _solve(Y: torch.Tensor, lam: torch.Tensor, program: _Program, settings: _Settings, chunk: int | None) -> PCPResult:
    settings.check()
    B = Y.shape[0]
    if chunk is None:
        chunk = batch_chunk(Y.shape[-2] * Y.shape[-1], Y.dtype, Y.device, B, buffers=14 + 2 * settings.memory)
    slices = chunk_slices(B, chunk)
    run = lambda c: _solve_chunk(Y[c], lam[c], program, settings)  # noqa: E731
    if len(slices) == 1 and Y.device.type == "cpu" and Y.shape[-2] * Y.shape[-1] <= _SMALL:
        # One chunk runs in this thread with torch's intra-op threads, which small matrices
        # cannot use: on a loaded 2-core machine they made an n = 20 problem 20x slower.
        with single_threaded():
            parts = [run(slices[0])]
    else:
        parts = map_chunks(run, slices, Y.device)
    return PCPResult(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(PCPResult)))


# Mixtures theta * Lambda_X + (1 - theta) * Lambda_S tried as dual points.
_THETAS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)


def _best_dual(inner: torch.Tensor, entry: torch.Tensor, norm: torch.Tensor, lam: torch.Tensor):
    r"""The best dual value among the scaled mixtures of the two multipliers.

    For :math:`\Lambda_\theta = \theta\Lambda_X + (1-\theta)\Lambda_S` the dual function
    :math:`N` and the entry bound are sublinear, so :math:`N(\Lambda_\theta) \le
    \theta N(\Lambda_X) + (1-\theta) N(\Lambda_S)` and likewise for
    :math:`\|\Lambda_\theta\|_\infty`; dividing by the larger of 1 and these bounds makes
    :math:`\Lambda_\theta` dual feasible.

    :param inner: ``(b, 2)`` :math:`\langle\Lambda, Y\rangle` of :math:`(\Lambda_X, \Lambda_S)`.
    :param entry: ``(b, 2)`` their largest absolute entries.
    :param norm: ``(b, 2)`` upper bounds on their dual norms.
    :param lam: ``(b,)`` :math:`\lambda`.
    :returns: ``(value, theta, c)``: the best value (at least 0, that of :math:`\Lambda = 0`),
        its mixture weight and scale, each ``(b,)``.
    """
    th = torch.tensor(_THETAS, dtype=inner.dtype, device=inner.device)
    mix = lambda u: th * u[:, :1] + (1 - th) * u[:, 1:]  # noqa: E731
    c = 1.0 / torch.maximum(mix(norm).clamp_min(1.0), mix(entry) / lam.unsqueeze(-1))
    values = c * mix(inner)
    value, j = values.max(dim=-1)
    return value.clamp_min(0.0), th[j], torch.where(value > 0, c.gather(-1, j.unsqueeze(-1)).squeeze(-1), 0.0)


def _certify(
    k: int, last: bool, *, X, fx, S, L_x, L_s, F, D, lam, y_den, active, s: _Settings, program: _Program, out: dict
):
    r"""Checks the certificate of the running problems at iteration ``k`` and writes the
    results of those that stop (certified, non-finite, or at ``max_iter``) to ``out``.

    The primal point is the feasible :math:`(X, Y - X)`. A screen takes the dual norm of
    :math:`\Lambda_X` as 1 (its construction) and bounds that of :math:`\Lambda_S` by
    :math:`1 + \|\Lambda_S - \Lambda_X\|_F`; only problems that pass it get the dual norms
    computed, and only those computed bounds certify.

    :returns: a boolean mask of the problems that stop, or None if none does.
    """
    P = fx + lam * (D - X).abs().sum(dim=(-2, -1))
    P_den = P.abs().clamp_min(1.0)
    inner = torch.stack([_inner(L_x, D), _inner(L_s, D)], dim=-1)
    entry = torch.stack([L_x.abs().amax(dim=(-2, -1)), L_s.abs().amax(dim=(-2, -1))], dim=-1)
    one = torch.ones_like(P)
    screen, _, _ = _best_dual(inner, entry, torch.stack([one, one + _fro(L_s - L_x)], dim=-1), lam)
    bad = ~torch.isfinite(P) | ~torch.isfinite(inner).all(dim=-1)
    check = torch.ones_like(bad) if last else (P - screen <= s.tol * P_den) | bad
    if not bool(check.any()):
        return None
    idx = check.nonzero().squeeze(-1)
    b = idx.numel()
    norms = program.dual_norm(torch.cat([L_x[idx], L_s[idx]])) * _safety(D)
    value, theta, c = _best_dual(inner[idx], entry[idx], torch.stack([norms[:b], norms[b:]], dim=-1), lam[idx])
    gap = (P[idx] - value) / P_den[idx]
    ok = gap <= s.tol
    fin = ok | bad[idx] | last
    if not bool(fin.any()):
        return None
    j, dst = idx[fin], active[idx[fin]]
    th = theta[fin].reshape(-1, 1, 1)
    out["X"][dst] = X[j]
    out["S"][dst] = S[j]
    out["dual_certificate"][dst] = c[fin].reshape(-1, 1, 1) * (th * L_x[j] + (1 - th) * L_s[j])
    out["iterations"][dst] = k
    out["gap"][dst] = gap[fin]
    out["residual"][dst] = _fro(F[j]) / y_den[j]
    out["certified"][dst] = ok[fin]
    out["primal"][dst] = P[j]
    out["dual"][dst] = value[fin]
    done = torch.zeros_like(check)
    done[j] = True
    return done


class _Anderson:
    r"""Anderson type-II acceleration of a fixed-point iteration :math:`g \mapsto g + f(g)`,
    batched (Walker, Ni 2011; Fu, Zhang, Boyd 2020).

    With the differences :math:`\Delta g_i, \Delta f_i` of the last ``memory`` iterates and
    residuals, the step is :math:`g + f - (\Delta G + \Delta F)\gamma`,
    :math:`\gamma = \arg\min \|f - \Delta F\gamma\|`, Tikhonov-regularized relative to the
    largest :math:`\|\Delta f_i\|^2`. Every problem of the batch has the same number of
    history entries (they run at the same iterations), so the ring buffer is shared.
    """

    def __init__(self, memory: int, regularization: float):
        self.memory, self.regularization = memory, regularization
        self.d_f = self.d_gf = self.gram = self.work = self.gf_last = self.f_last = None
        self.filled = self.head = 0

    def keep(self, mask: torch.Tensor) -> None:
        """Keeps the problems in ``mask`` only."""
        for name in ("d_f", "d_gf", "gram", "work", "gf_last", "f_last"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[mask])

    def step(self, G: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
        """The next iterate from ``G`` and its residual ``F``, ``(b, n, m)`` each."""
        g, f = G.flatten(1), F.flatten(1)
        gf = g + f
        if self.gf_last is not None:
            if self.d_f is None:
                # Zeros, not empty: the Gram row below reads unused slots too.
                self.d_f = torch.zeros(g.shape[0], self.memory, g.shape[1], dtype=g.dtype, device=g.device)
                self.d_gf = torch.zeros_like(self.d_f)
                self.work = torch.empty_like(self.d_f)
                self.gram = torch.zeros(g.shape[0], self.memory, self.memory, dtype=g.dtype, device=g.device)
            h = self.head
            torch.sub(f, self.f_last, out=self.d_f[:, h])
            torch.sub(gf, self.gf_last, out=self.d_gf[:, h])
            # One new row of the Gram matrix per step. Products with the history are written
            # as reductions (batched matrix-vector products round differently for one problem
            # and for several, and the extrapolation would amplify that into batch-dependent
            # results), through a scratch buffer: a fresh temporary of the history's size per
            # product costs more than the arithmetic.
            row = torch.mul(self.d_f, self.d_f[:, h].unsqueeze(1), out=self.work).sum(-1)
            self.gram[:, h, :] = row
            self.gram[:, :, h] = row
            self.head, self.filled = (h + 1) % self.memory, min(self.filled + 1, self.memory)
        self.gf_last, self.f_last = gf, f
        k = self.filled
        if not k:
            return gf.reshape(G.shape)
        work = self.work[:, :k]
        M = self.gram[:, :k, :k].clone()
        diag = M.diagonal(dim1=-2, dim2=-1)
        diag.add_((self.regularization * diag.amax(-1)).clamp_min(torch.finfo(g.dtype).tiny).unsqueeze(-1))
        gamma = torch.linalg.solve(M, torch.mul(self.d_f[:, :k], f.unsqueeze(1), out=work).sum(-1))
        return (gf - torch.mul(self.d_gf[:, :k], gamma.unsqueeze(-1), out=work).sum(1)).reshape(G.shape)


def _solve_chunk(Y: torch.Tensor, lam_t: torch.Tensor, program: _Program, s: _Settings) -> PCPResult:
    """The certified solver on one chunk of problems (arguments checked by the caller)."""
    B = Y.shape[0]
    dev, dt = Y.device, Y.dtype
    tiny = torch.finfo(dt).tiny

    out = {
        "X": torch.zeros_like(Y),
        "S": torch.zeros_like(Y),
        "dual_certificate": torch.zeros_like(Y),
        "iterations": torch.zeros(B, dtype=torch.long, device=dev),
        "certified": torch.zeros(B, dtype=torch.bool, device=dev),
    }
    for name in ("gap", "residual", "primal", "dual"):
        out[name] = torch.full((B,), float("nan"), dtype=dt, device=dev)

    # mu is relative to ||Y||_2, so that the schedule does not depend on the units of Y; an
    # all-zero Y gets a finite mu (its solution, 0, certifies at the first iteration).
    inv_scale = 1.0 / torch.linalg.matrix_norm(Y, ord=2).clamp_min(tiny).reshape(B, 1, 1)
    active = torch.arange(B, device=dev)
    D, lam = Y, lam_t
    lam_flat = lam.reshape(-1)
    y_den = _fro(Y).clamp_min(tiny)
    G = Y.clone()
    anderson = _Anderson(s.memory, s.regularization)
    mu = None

    for k in range(1, s.max_iter + 1):
        mu_k, mu_next = s.mu(k), s.mu(k + 1)
        if mu is None:  # the penalty, its inverse and the S-step's threshold, kept while mu stays
            mu = mu_k * inv_scale
            tau = 1.0 / mu
            bound = lam * tau
        X, fx = program.prox(G, tau)
        R = G - X  # Lambda_X / mu
        H = D + R - X
        clipped = torch.clamp(H, -bound, bound)
        S = H - clipped
        F = clipped - R  # the fixed-point residual Y - X - S
        last = k == s.max_iter
        done = None
        if k % s.check_every == 0 or last:
            done = _certify(
                k,
                last,
                X=X,
                fx=fx,
                S=S,
                L_x=mu * R,
                L_s=mu * clipped,
                F=F,
                D=D,
                lam=lam_flat,
                y_den=y_den,
                active=active,
                s=s,
                program=program,
                out=out,
            )
        if last:
            break
        if done is not None:
            keep = ~done
            if not bool(keep.any()):
                break
            active, D, lam, lam_flat = active[keep], D[keep], lam[keep], lam_flat[keep]
            y_den, inv_scale, mu, tau, bound = y_den[keep], inv_scale[keep], mu[keep], tau[keep], bound[keep]
            G, F, S, R = G[keep], F[keep], S[keep], R[keep]
            anderson.keep(keep)

        if mu_next != mu_k:
            # The method of multipliers' update, G = Y - S + Lambda_X / mu, at the next
            # penalty; Anderson's history is for one penalty only.
            G = D - S + R * (mu_k / mu_next)
            mu = None
        else:
            G = anderson.step(G, F) if s.memory else G + F
    return PCPResult(**out)


def pcp(
    Y: torch.Tensor,
    lam: torch.Tensor | float,
    *,
    tol: float = 1e-6,
    max_iter: int = 3000,
    mu0: float = 1.25,
    rho: float = 1.5,
    mu_max: float | None = None,
    memory: int = 10,
    regularization: float = 1e-10,
    check_every: int = 3,
    chunk: int | None = None,
) -> PCPResult:
    r"""Principal component pursuit (Candès, Li, Ma, Wright 2011), solved to a certified optimum.

    .. math:: \min_{X, S} \; \|X\|_* + \lambda \|S\|_1 \quad \text{s.t.} \quad X + S = Y,
              \qquad \text{dual:} \quad \max_\Lambda \langle \Lambda, Y\rangle \quad
              \text{s.t.} \quad \|\Lambda\|_2 \le 1,\; \|\Lambda\|_\infty \le \lambda.

    The inexact augmented Lagrangian method (Lin, Chen, Ma 2010, Algorithm 5) with a
    bounded penalty and Anderson acceleration, stopped per problem by a duality-gap
    certificate (module docstring). Iteration :math:`k`, from :math:`G = Y` and with
    :math:`\mu = \mu_k`:

    .. math::
        X = \mathcal D_{1/\mu}(G), \quad \Lambda_X = \mu (G - X), \quad
        S = \mathcal S_{\lambda/\mu}(Y - X + \Lambda_X/\mu), \quad
        \Lambda_S = \mu\,(Y - X + \Lambda_X/\mu - S),

    (singular value and entrywise shrinkage); the next :math:`G` is
    :math:`Y - S + \Lambda_X/\mu_{k+1}`, Lin et al.'s update, or, once the penalty has
    stopped changing, the Anderson extrapolation of :math:`G \mapsto G + Y - X - S`. The
    penalty is :math:`\mu_k\|Y\|_2 = \mu_0 \rho^{k-1}` for the first 20 iterations (longer
    where that has not reached :math:`\mu_{\max}`), Lin et al.'s schedule
    (:math:`\mu_0 = 1.25`, :math:`\rho = 1.5`), which certifies easy problems in as many
    iterations as their method; then :math:`\mu_{\max} = 0.4\sqrt{nm}` (20 at n = 50, 40 at
    n = 100), not their :math:`1.25\cdot 10^7`, under which the iterates freeze short of the
    optimum and never certify. On the paper's problems (rank 1 to 25, 2% to 50% corruptions)
    the fastest fixed penalty ranged from 7.5 to 90 at n = 50 depending on the grid point,
    growing with n; the default is the compromise that certified every grid point tried.

    The nuclear norm in :math:`P` is the upper bound of :func:`shrink_singular_values`, so
    the Gram eigensolver's inaccuracy on small singular values can slow the method but
    cannot make a certificate claim too much; the dual norms that certify are computed
    (largest eigenvalue of a Gram matrix, relative error of order :math:`n\varepsilon`,
    covered by a margin).

    :param Y: observations, ``(B, n, m)``; float64 for certificates.
    :param lam: :math:`\lambda > 0`, a scalar or one per problem ``(B,)``; the paper's
        experiments use :math:`1/\sqrt{n}`.
    :param tol: the relative duality gap :math:`(P - D)/\max(1, |P|)` that certifies.
    :param max_iter: iteration cap per problem; problems that reach it are reported with
        ``certified=False`` and their verified gap, not raised.
    :param mu0: :math:`\mu_0\|Y\|_2`, the first penalty.
    :param rho: the penalty's growth factor per iteration (1: constant).
    :param mu_max: :math:`\mu_{\max}\|Y\|_2`, the penalty after the growth; None:
        :math:`0.4\sqrt{nm}`.
    :param memory: Anderson memory; 0 runs the plain method.
    :param regularization: Tikhonov weight of Anderson's least squares, relative.
    :param chunk: problems run together; None chooses by device (on CPU, cache-sized chunks
        shared among torch's threads, :mod:`implicit_bias.batching`). Each problem runs
        alone, so results do not depend on it or on the rest of the batch.
    :returns: a :class:`PCPResult`.
    """
    lam_t = _check(Y, lam, square=False)
    settings = _settings(
        Y,
        tol=tol,
        max_iter=max_iter,
        mu0=mu0,
        rho=rho,
        mu_max=mu_max,
        memory=memory,
        regularization=regularization,
        check_every=check_every,
    )
    return _solve(Y, lam_t, _PCP, settings, chunk)


def psd_pcp(
    Y: torch.Tensor,
    lam: torch.Tensor | float,
    *,
    tol: float = 1e-6,
    max_iter: int = 3000,
    mu0: float = 1.25,
    rho: float = 1.5,
    mu_max: float | None = None,
    memory: int = 10,
    regularization: float = 1e-10,
    check_every: int = 3,
    chunk: int | None = None,
) -> PCPResult:
    r"""Principal component pursuit with a PSD low-rank part, solved to a certified optimum.

    .. math:: \min_{X \succeq 0,\, S} \; \operatorname{tr}(X) + \lambda \|S\|_1
              \quad \text{s.t.} \quad X + S = Y, \qquad
              \text{dual:} \quad \max_\Lambda \langle \Lambda, Y\rangle \quad \text{s.t.} \quad
              \lambda_{\max}\big(\tfrac12(\Lambda + \Lambda^\top)\big) \le 1,\;
              \|\Lambda\|_\infty \le \lambda.

    The convex program You, Zhu, Qu, Ma (2020, Sec. 2.3) pair with DOP at
    :math:`\lambda = 1/\alpha`. ``Y`` must be square but need not be symmetric (its sparse
    part is not). The method of :func:`pcp` with the :math:`X`-step replaced by eigenvalue
    shrinkage of the symmetric part, :math:`X = Q\max(\Theta - 1/\mu, 0)Q^\top`
    (:func:`shrink_eigenvalues`), whose trace is read off its diagonal; :math:`\Lambda_X`
    then satisfies :math:`\lambda_{\max}(\mathrm{sym}\,\Lambda_X) \le 1` by construction.
    Parameters and result as in :func:`pcp`.
    """
    lam_t = _check(Y, lam, square=True)
    settings = _settings(
        Y,
        tol=tol,
        max_iter=max_iter,
        mu0=mu0,
        rho=rho,
        mu_max=mu_max,
        memory=memory,
        regularization=regularization,
        check_every=check_every,
    )
    return _solve(Y, lam_t, _PSD_PCP, settings, chunk)


# ---------------------------------------------------------------------------------------
# Robust sensing with commuting measurements (Theorem 1): a linear program
# ---------------------------------------------------------------------------------------


@dataclass
class SensingLPResult:
    """What :func:`commuting_sensing_lp` returns.

    :ivar x: ``(n,)`` the eigenvalues of the optimal :math:`X` in the shared basis ``V``
        (:math:`X = V \\operatorname{diag}(x) V^\\top`).
    :ivar s: ``(m,)`` the optimal sparse part.
    :ivar value: the optimal value :math:`\\sum_k x_k + \\lambda\\|s\\|_1`.
    :ivar status: HiGHS's status through :func:`scipy.optimize.linprog` (0: optimal).
    :ivar message: the solver's message.
    """

    x: np.ndarray
    s: np.ndarray
    value: float
    status: int
    message: str

    @property
    def success(self) -> bool:
        """True when the solver reports an optimum."""
        return self.status == 0


def commuting_sensing_lp(eigenvalues: np.ndarray, y: np.ndarray, lam: float) -> SensingLPResult:
    r"""The convex program of Theorem 1 (You, Zhu, Qu, Ma 2020) for commuting measurements,
    solved exactly as a linear program.

    .. math:: \min_{X \succeq 0,\, s} \operatorname{tr}(X) + \lambda \|s\|_1
              \quad\text{s.t.}\quad \mathcal A(X) + s = y,
              \qquad A_i = V \operatorname{diag}(d_i) V^\top.

    Both :math:`\operatorname{tr}(X)` and :math:`\langle A_i, X\rangle = \sum_k d_{ik}
    (V^\top X V)_{kk}` depend on :math:`X` only through the diagonal :math:`x` of
    :math:`V^\top X V`, which is nonnegative for PSD :math:`X`; conversely
    :math:`V \operatorname{diag}(x) V^\top` is PSD for every :math:`x \ge 0` and has the same
    objective and measurements. So the program has the optimal value of

    .. math:: \min_{x \ge 0,\, s} \mathbf 1^\top x + \lambda \|s\|_1
              \quad\text{s.t.}\quad D x + s = y,

    with :math:`D` the ``(m, n)`` matrix whose rows are the :math:`d_i`, and an optimal
    :math:`X = V \operatorname{diag}(x) V^\top`. It is solved by HiGHS
    (:func:`scipy.optimize.linprog`) with :math:`s = s^+ - s^-`, :math:`s^\pm \ge 0`.

    :param eigenvalues: ``(m, n)``, the rows :math:`d_i` (see
        :func:`implicit_bias.theory.commuting_sensing_problem`).
    :param y: ``(m,)`` observations.
    :param lam: :math:`\lambda > 0` (Theorem 1: :math:`1/\alpha`).
    :returns: a :class:`SensingLPResult`; ``status`` says whether it is optimal.
    """
    from scipy.optimize import linprog  # here: the workflow imports this module to plan

    D = np.asarray(eigenvalues, dtype=float)
    y = np.asarray(y, dtype=float)
    if D.ndim != 2 or y.shape != (D.shape[0],):
        raise ValueError(f"need eigenvalues (m, n) and y (m,), got {D.shape} and {y.shape}")
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be finite and > 0, got {lam}")
    m, n = D.shape
    cost = np.concatenate([np.ones(n), np.full(2 * m, float(lam))])
    A_eq = np.hstack([D, np.eye(m), -np.eye(m)])
    res = linprog(cost, A_eq=A_eq, b_eq=y, bounds=(0, None), method="highs")
    if res.x is None:
        return SensingLPResult(np.full(n, np.nan), np.full(m, np.nan), float("nan"), int(res.status), res.message)
    x = res.x[:n]
    s = res.x[n : n + m] - res.x[n + m :]
    return SensingLPResult(x, s, float(res.fun), int(res.status), res.message)


# ---------------------------------------------------------------------------------------
# Comparing a point with the solutions of psd_pcp along a lambda grid
# ---------------------------------------------------------------------------------------


def pcp_terms(X: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    r"""The two terms of :func:`psd_pcp`'s objective at the feasible point :math:`(X, Y - X)`:
    :math:`(\operatorname{tr} X, \|Y - X\|_1)`."""
    return float(np.trace(X)), float(np.abs(Y - X).sum())


def pareto_dominated(point: tuple[float, float], others, rtol: float = 1e-4) -> bool:
    r"""Whether some point of ``others`` beats ``point`` on both terms, each by more than
    ``rtol`` of ``point``'s value (``(trace, l1)`` pairs, :func:`pcp_terms`).

    A point that solves :math:`\min \operatorname{tr} X + \lambda\|Y - X\|_1` for some
    :math:`\lambda > 0` is on the Pareto frontier of the two terms, so no feasible point
    beats it on both: a dominated point solves the program for no lambda.
    """
    t, l1 = point
    others = np.asarray(others, dtype=float).reshape(-1, 2)
    return bool(np.any((others[:, 0] < t - rtol * abs(t)) & (others[:, 1] < l1 - rtol * abs(l1))))


def nearest_lambda(X: np.ndarray, X_grid: np.ndarray, lambdas: np.ndarray) -> tuple[float, float]:
    """The lambda of a grid whose solution is nearest to ``X`` (Frobenius), refined by a
    parabola in log lambda through the nearest point and its two neighbours.

    :param X: ``(n, n)``; :param X_grid: ``(L, n, n)`` the solutions at ``lambdas`` ``(L,)``.
    :returns: ``(lambda, distance)``: the refined lambda and the smallest distance on the grid.
    """
    order = np.argsort(lambdas)
    lam = np.log(np.asarray(lambdas, dtype=float)[order])
    dist = np.linalg.norm((X_grid[order] - X[None]).reshape(len(lam), -1), axis=1)
    i = int(np.argmin(dist))
    best = lam[i]
    if 0 < i < len(lam) - 1:
        x, y = lam[i - 1 : i + 2], dist[i - 1 : i + 2]
        a, b, _ = np.polyfit(x, y, 2)
        if a > 0:
            best = float(np.clip(-b / (2 * a), x[0], x[2]))
    return float(np.exp(best)), float(dist[i])
