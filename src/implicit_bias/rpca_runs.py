"""Batched robust-PCA runs shared by the experiment families (the alpha sweep and the
learning curves, the phase transition, the alpha-lambda check).

A job's planted problems come from the workflow's seeds (:meth:`Context.trial_seed`), one
draw per trial, so a trial's data do not depend on how trials are batched nor on which
family runs it; DOP starts from the paper's initialization (Sec. 4.1). The alpha grid of a
sweep, the job that runs it and the rows at alpha = sqrt(n) are here too, as two families
sweep the same grid. So are the learning-rate ratio and the l1 weight of a sweep's
settings, for figures and captions, which import no torch (the runs import it, and the
engines, when they start).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .grids import alpha_grid, param_key
from .seeding import trial_rngs

if TYPE_CHECKING:
    import torch

    from .experiments import Context


def planted_batch(ctx: Context, s: dict, trials: Iterable[int], *, rank: int, p: float):
    """The planted problems of ``trials`` and their initialization generators.

    The trials of one problem (:func:`~implicit_bias.grids.param_key` of ``n``, ``rank``
    and ``p``) share their data across methods and sweeps' jobs.

    :param ctx: the job's context (seeds, device, dtype).
    :param s: the sweep's settings (``n``, ``outlier_std``).
    :param trials: trial indices.
    :param rank: the planted rank.
    :param p: the fraction of corrupted entries.
    :returns: ``(X, S, seeds, init_rngs)``; ``X``, ``S`` are ``(B, n, n)`` tensors on the
        context's device; each trial is drawn alone, so batching never changes its data.
    """
    import torch

    from .rpca import rpca_problem

    key = param_key({"n": s["n"], "rank": rank, "p": p})
    Xs, Ss, seeds, init_rngs = [], [], [], []
    for t in trials:
        seed = ctx.trial_seed(key, t)
        problem_rng, init_rng = trial_rngs(seed, 2)
        inst = rpca_problem(s["n"], rank, p, problem_rng, s["outlier_std"])
        Xs.append(inst.X)
        Ss.append(inst.S)
        seeds.append(seed)
        init_rngs.append(init_rng)
    to = dict(device=ctx.device, dtype=ctx.dtype)
    return torch.from_numpy(np.stack(Xs)).to(**to), torch.from_numpy(np.stack(Ss)).to(**to), seeds, init_rngs


def dop_init(init_rngs: list, n: int, scale: float, like: torch.Tensor):
    """DOP's start, drawn per trial: ``U0`` and ``g0`` iid N(0, scale^2), ``h0 = g0`` (paper Sec. 4.1).

    :param init_rngs: one NumPy generator per trial (:func:`planted_batch`).
    :param n: the matrix size.
    :param scale: the standard deviation of the entries.
    :param like: a tensor whose device and dtype the start takes.
    :returns: ``(U0, g0, h0)``, each ``(B, n, n)``.
    """
    import torch

    U0, g0 = [], []
    for rng in init_rngs:
        U0.append(rng.normal(0.0, scale, (n, n)))
        g0.append(rng.normal(0.0, scale, (n, n)))
    U0 = torch.from_numpy(np.stack(U0)).to(like)
    g0 = torch.from_numpy(np.stack(g0)).to(like)
    return U0, g0, g0.clone()


def curves_frame(result, base: dict, trials: Iterable[int]) -> pd.DataFrame:
    """Recorded curves of a batched run as a tidy frame, one row per (trial, iteration).

    :param result: a batched descent result with ``iterations`` and ``curves`` (``(T, B)`` each).
    :param base: columns that every row carries (``method``, ``alpha``), first.
    :param trials: the trial index of each batch element.
    :returns: ``base``'s columns, ``trial``, ``iteration`` and one column per curve.
    """
    its = result.iterations.cpu().numpy()
    frames = []
    for b, t in enumerate(trials):
        cols = {"iteration": its}
        for name, values in result.curves.items():
            cols[name] = values[:, b].detach().cpu().numpy()
        frame = pd.DataFrame(cols)
        for k, v in reversed(base.items()):
            frame.insert(0, k, v)
        frame.insert(len(base), "trial", t)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def sweep_alphas(s: dict) -> list[float]:
    """The alpha grid of a sweep's settings (``n``, ``alpha_min``, ``alpha_max``, ``alpha_num``).

    :returns: log-spaced ratios with sqrt(n) among them (:func:`~implicit_bias.grids.alpha_grid`).
    """
    return alpha_grid(s["n"], s["alpha_min"], s["alpha_max"], s["alpha_num"])


#: A job whose batch is below this many multiply-adds (problems x steps x n^3, about one
#: n x n product per step) spends its time starting up, not computing (the smoke size): it
#: asks for one thread, so that two such jobs run at once.
SMALL_JOB_WORK = 1e10


def batch_threads(s: dict, problems: int) -> int:
    """The threads a job of ``problems`` robust-PCA problems of the sweep ``s`` can keep busy:
    two for a batch worth splitting, one below :data:`SMALL_JOB_WORK`."""
    return 2 if problems * s["steps"] * s["n"] ** 3 >= SMALL_JOB_WORK else 1


def alpha_resources(s: dict, job: dict) -> dict:
    """What an alpha sweep's one job (:func:`alpha_jobs`) asks the scheduler for."""
    threads = batch_threads(s, len(sweep_alphas(s)) * s["trials"])
    return {"threads": threads, "mem_mb": 2000, "runtime": 60, "gpu": 0}


def alpha_jobs(s: dict) -> list[dict]:
    """The jobs of an alpha sweep: one, every alpha and trial of the grid as one batch.

    :param s: the sweep's settings.
    :returns: one job's parameters (the grid's length and the trials).
    """
    return [{"alphas": len(sweep_alphas(s)), "trials": s["trials"]}]


def dop_over_alphas(ctx: Context, s: dict, alphas: list[float], trials: Iterable[int]):
    """DOP at every alpha on the problems of ``trials``, as one batch: element ``(a, t)``
    (alpha-major) solves trial ``t``'s problem from trial ``t``'s initialization with ratio
    ``alphas[a]``, the same problem and start at every alpha.

    :param ctx: the job's context.
    :param s: the sweep's settings (problem, ``init_scale``, ``lr``, ``steps``, ``record_every``).
    :param alphas: the learning-rate ratios.
    :param trials: trial indices.
    :returns: ``(X, S, seeds, result)``, ``X``, ``S`` and ``seeds`` per element.
    """
    import torch

    from .rpca import dop_descent

    trials = list(trials)
    X, S, seeds, init_rngs = planted_batch(ctx, s, trials, rank=s["rank"], p=s["p"])
    U0, g0, h0 = dop_init(init_rngs, s["n"], s["init_scale"], X)
    rep = lambda t: t.repeat(len(alphas), *([1] * (t.dim() - 1)))  # noqa: E731
    per_element = torch.tensor([a for a in alphas for _ in trials], dtype=X.dtype, device=X.device)
    Xb, Sb = rep(X), rep(S)
    result = dop_descent(
        Xb + Sb,
        rep(U0),
        rep(g0),
        rep(h0),
        per_element,
        s["lr"],
        steps=s["steps"],
        record_every=s["record_every"],
        X_true=Xb,
        S_true=Sb,
        desc=ctx.label(f"dop, {len(alphas)} alphas x {len(trials)} trials"),
    )
    return Xb, Sb, seeds * len(alphas), result


def dop_alpha(s: dict) -> float:
    """DOP's learning-rate ratio of a sweep's settings: ``alpha``, or sqrt(n) where it is
    null (the paper's choice); the rule of :func:`~implicit_bias.rpca.learning_rate_ratio`,
    which runs use, here without torch for the figures that state it."""
    return math.sqrt(s["n"]) if s["alpha"] is None else float(s["alpha"])


def pcp_weight(s: dict) -> float:
    """The l1 weight of principal component pursuit of a sweep's settings: ``lambda``, or
    1/sqrt(n) where it is null; the rule of :func:`~implicit_bias.apg.pcp_lambda`, which runs
    use, here without torch for the figures that state it."""
    return 1.0 / math.sqrt(s["n"]) if s["lambda"] is None else float(s["lambda"])


def rows_at_sqrt_n(summary: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of a table whose ``alpha`` is the paper's choice, sqrt(n).

    :param summary: a table with an ``alpha`` column.
    :param n: the matrix size.
    :returns: those rows (none where sqrt(n) is not on the grid).
    """
    return summary[np.isclose(summary["alpha"], math.sqrt(n))]


# ---------------------------------------------------------------------------------------
# DOP to stationarity (the alpha-lambda check): the state, the gate and an early stop
# ---------------------------------------------------------------------------------------


def frobenius(A):
    """The Frobenius norm over the last two dimensions."""
    return A.square().sum(dim=(-2, -1)).sqrt()


def dop_stationarity_residual(U, g, h, Y):
    r"""The relative stationarity residual of DOP's loss :math:`f` (paper eq. 6), per element:

    .. math:: \frac{\|(\nabla_U f, \nabla_g f, \nabla_h f)\|_F}{\|Y\|_F \, \|(U, g, h)\|_F},
        \qquad \nabla_U f = \tfrac12 (R + R^\top) U,\; \nabla_g f = R\circ g,\;
        \nabla_h f = -R\circ h,\; R = UU^\top + g\circ g - h\circ h - Y.

    Each gradient is the residual ``R`` seen through a factor, so the ratio is at most
    ``||R||_2 / ||Y||_F`` (spectral over Frobenius) and 0 exactly at a stationary point; it
    does not change when ``Y`` is scaled and the factors with its square root.

    :returns: ``(B,)``.
    """
    R = U @ U.mT + g * g - h * h - Y
    M = 0.5 * (R + R.mT)
    grad = (M @ U).square().sum(dim=(-2, -1)) + ((R * g).square() + (R * h).square()).sum(dim=(-2, -1))
    size = U.square().sum(dim=(-2, -1)) + g.square().sum(dim=(-2, -1)) + h.square().sum(dim=(-2, -1))
    return grad.sqrt() / (frobenius(Y) * size.sqrt())


def gate_steps(steps: int, check_every: int) -> list[int]:
    """The steps at which :func:`dop_until_stationary` checks the gate: the multiples of
    ``check_every`` below ``steps`` (none for 0), and ``steps``."""
    return sorted((set(range(check_every, steps, check_every)) if check_every else set()) | {steps})


def dop_until_stationary(
    Y,
    U0,
    g0,
    h0,
    alpha,
    lr,
    *,
    steps: int,
    check_every: int = 0,
    stop_after: int = 0,
    residual_tol: float = 1e-3,
    change_tol: float = 1e-3,
    scale=None,
    desc: str | None = None,
):
    r"""DOP's discrepant-rate gradient descent (paper eq. 6, the steps of
    :func:`~implicit_bias.rpca.dop_descent`) that records the convergence gate and may stop
    each run early.

    Every ``check_every`` steps (a multiple of 10; 0: never) from ``stop_after`` on (near
    the saddle at the start, X barely moves and the gradient is small) each run still going is
    checked: it stops at step ``k`` when its :func:`dop_stationarity_residual` is at most
    ``residual_tol`` and ``||X_k - X_{0.9k}||_F / scale`` at most ``change_tol`` (the gate
    of :func:`implicit_bias.scorecard.convergence`, over the last 10% of its own steps), or
    when it is no longer finite; the others run on without it. Every run stops at ``steps``.
    The batch runs in interleaved chunks, as :func:`~implicit_bias.rpca.dop_plan` sizes
    them, on its threads; results do not depend on the chunks.

    :param Y: ``(B, n, n)``; :param U0: ``(B, n, k)``; :param g0, h0: ``(B, n, n)``.
    :param alpha: ``(B,)`` learning-rate ratios; :param lr: the step tau of ``U``, a number
        or ``(B,)``; ``g`` and ``h`` take ``alpha * lr``.
    :param scale: ``(B,)``, the scale of ``last_change`` (``||X*||_F``); None: ``||Y||_F``.
    :returns: a dict of NumPy arrays: ``X``, ``S`` ``(B, n, n)``; ``residual``,
        ``last_change``, ``steps_run``, ``diverged``, ``(B,)`` each.
    """
    import torch

    from .batching import map_chunks
    from .progress import progress_bar
    from .rpca import dop_plan

    if check_every % 10:
        raise ValueError(f"check_every must be a multiple of 10, got {check_every}")
    B = Y.shape[0]
    alpha = torch.as_tensor(alpha, dtype=Y.dtype, device=Y.device).reshape(B, 1, 1)
    lr = torch.as_tensor(lr, dtype=Y.dtype, device=Y.device).expand(B).reshape(B, 1, 1)
    scale = frobenius(Y) if scale is None else torch.as_tensor(scale, dtype=Y.dtype, device=Y.device)
    out = {
        "X": torch.zeros_like(Y),
        "S": torch.zeros_like(Y),
        "residual": torch.full((B,), float("nan"), dtype=Y.dtype, device=Y.device),
        "last_change": torch.full((B,), float("nan"), dtype=Y.dtype, device=Y.device),
        "steps_run": torch.zeros(B, dtype=torch.long, device=Y.device),
        "diverged": torch.zeros(B, dtype=torch.bool, device=Y.device),
    }
    plan = dop_plan(Y.shape[-1], U0.shape[-1], B, Y.dtype, Y.device)
    parts = -(-B // plan.chunk)
    # Interleaved, so that each chunk holds every alpha and the chunks finish together.
    chunks = [torch.arange(j, B, parts, device=Y.device) for j in range(parts)]
    kw = dict(
        steps=steps, check_every=check_every, stop_after=stop_after, residual_tol=residual_tol, change_tol=change_tol
    )
    with progress_bar(steps * parts, desc) as bar:
        results = map_chunks(
            lambda ids: _stationary_chunk(
                Y[ids], U0[ids], g0[ids], h0[ids], alpha[ids], lr[ids], scale=scale[ids], bar=bar, **kw
            ),
            chunks,
            Y.device,
            plan.threads,
        )
    for ids, res in zip(chunks, results, strict=True):
        for key, value in res.items():
            out[key][ids] = value
    return {key: value.cpu().numpy() for key, value in out.items()}


def _stationary_chunk(
    Y, U0, g0, h0, alpha, lr, *, scale, steps, check_every, stop_after, residual_tol, change_tol, bar
):
    """:func:`dop_until_stationary` on one chunk; its results in the chunk's order."""
    import torch

    B = Y.shape[0]
    ends = [k for k in gate_steps(steps, check_every) if k >= stop_after or k == steps]
    snap_for = {9 * k // 10: k for k in ends}  # the step of a snapshot -> the check that reads it
    out = {
        "X": torch.zeros_like(Y),
        "S": torch.zeros_like(Y),
        "residual": torch.full((B,), float("nan"), dtype=Y.dtype, device=Y.device),
        "last_change": torch.full((B,), float("nan"), dtype=Y.dtype, device=Y.device),
        "steps_run": torch.zeros(B, dtype=torch.long, device=Y.device),
        "diverged": torch.zeros(B, dtype=torch.bool, device=Y.device),
    }
    idx = torch.arange(B, device=Y.device)
    U, g, h = U0.clone(), g0.clone(), h0.clone()
    snaps: dict[int, torch.Tensor] = {}

    def buffers():
        return torch.empty_like(U), torch.empty_like(g), torch.empty_like(g), -Y, alpha * lr, -0.5 * lr

    U_next, R, T, neg_Y, step_gh, step_u = buffers()
    for k in range(steps + 1):
        if k in snap_for:
            snaps[snap_for[k]] = U @ U.mT
        if k in ends:
            X, S = U @ U.mT, g * g - h * h
            res = dop_stationarity_residual(U, g, h, Y)
            change = frobenius(X - snaps.pop(k)) / scale
            finite = torch.isfinite(X).all(dim=(-2, -1)) & torch.isfinite(S).all(dim=(-2, -1))
            if k < steps:
                stop = ((res <= residual_tol) & (change <= change_tol)) | ~finite | ~torch.isfinite(res)
            else:
                stop = torch.ones_like(finite)
            ids = idx[stop]
            out["X"][ids], out["S"][ids] = X[stop], S[stop]
            out["residual"][ids], out["last_change"][ids] = res[stop], change[stop]
            out["steps_run"][ids], out["diverged"][ids] = k, ~finite[stop]
            if k == steps or bool(stop.all()):
                bar.update(steps - k)
                break
            if bool(stop.any()):
                go = ~stop
                idx, U, g, h, Y, alpha, lr, scale = idx[go], U[go], g[go], h[go], Y[go], alpha[go], lr[go], scale[go]
                snaps = {j: v[go] for j, v in snaps.items()}
                U_next, R, T, neg_Y, step_gh, step_u = buffers()
        # One step of eq. 6, in place: R = UU^T + g*g - h*h - Y; U <- U - tau/2 (R + R^T) U;
        # g <- g - alpha tau R*g; h <- h + alpha tau R*h.
        torch.addcmul(neg_Y, g, g, out=R)
        R.addcmul_(h, h, value=-1.0)
        R.baddbmm_(U, U.mT)
        torch.add(R, R.mT, out=T)
        T.mul_(step_u)
        torch.baddbmm(U, T, U, out=U_next)
        U, U_next = U_next, U
        torch.mul(R, step_gh, out=T)
        g.addcmul_(T, g, value=-1.0)
        h.addcmul_(T, h)
        bar.update(1)
    return out


def start_factors(kind: str, init_rngs: list, n: int, scale: float, like):
    """A DOP start per trial: ``"gaussian"``, the paper's (:func:`dop_init`, drawn from a copy
    of each trial's generator, so every scale scales the same draw); ``"balanced"``,
    Theorem 1's ``U0 = scale I``, ``g0 = h0 = scale 1``.

    :returns: ``(U0, g0, h0)``, each ``(B, n, n)``.
    """
    import copy

    import torch

    if kind == "gaussian":
        return dop_init([copy.deepcopy(rng) for rng in init_rngs], n, scale, like)
    if kind == "balanced":
        B = len(init_rngs)
        U0 = (scale * torch.eye(n)).to(like).expand(B, n, n).clone()
        g0 = torch.full((B, n, n), scale).to(like)
        return U0, g0, g0.clone()
    raise ValueError(f"unknown start {kind!r} (gaussian or balanced)")


def alpha_lambda_starts(s: dict) -> list[tuple[str, float, int]]:
    """The starts of an alpha-lambda sweep: ``(kind, scale, trials)``, the paper's Gaussian
    start at ``init_scale`` on every trial first, then each of ``starts`` on the first
    ``start_trials`` trials."""
    main = [("gaussian", float(s["init_scale"]), int(s["trials"]))]
    extra = [(st["init"], float(st["scale"]), min(int(s["start_trials"]), int(s["trials"]))) for st in s["starts"]]
    return main + [e for e in extra if e[:2] != main[0][:2]]


def alpha_lambda_step(s: dict, alpha: float) -> float:
    """The step tau of ``U`` at ``alpha``: ``min(lr, max_gh_step / alpha)``, so that the step of
    ``g`` and ``h``, ``alpha * tau``, is at most ``max_gh_step``."""
    return min(float(s["lr"]), float(s["max_gh_step"]) / alpha)


def dop_stationary_over_alphas(ctx: Context, s: dict, alphas: list[float], trials: list[int]):
    """DOP at every alpha from every start of :func:`alpha_lambda_starts`, run to the
    convergence gate (:func:`dop_until_stationary`) as one batch.

    :returns: ``(X, S, seeds, elements, out)``: the planted ``X``, ``S`` per trial, the seeds
        per trial, the elements ``(start, scale, alpha, trial)`` and the run's dict.
    """
    import torch

    X, S, seeds, init_rngs = planted_batch(ctx, s, trials, rank=s["rank"], p=s["p"])
    elements, U0s, g0s, h0s, idx = [], [], [], [], []
    for kind, scale, count in alpha_lambda_starts(s):
        U0, g0, h0 = start_factors(kind, init_rngs[:count], s["n"], scale, X)
        for alpha in alphas:
            for t in range(count):
                elements.append((kind, scale, alpha, trials[t]))
                U0s.append(U0[t])
                g0s.append(g0[t])
                h0s.append(h0[t])
                idx.append(t)
    idx_t = torch.tensor(idx, device=X.device)
    Y = (X + S)[idx_t]
    out = dop_until_stationary(
        Y,
        torch.stack(U0s),
        torch.stack(g0s),
        torch.stack(h0s),
        torch.tensor([e[2] for e in elements], dtype=X.dtype),
        torch.tensor([alpha_lambda_step(s, e[2]) for e in elements], dtype=X.dtype),
        steps=s["steps"],
        check_every=s["check_every"],
        stop_after=s["stop_after"],
        residual_tol=s["residual_tol"],
        change_tol=s["change_tol"],
        scale=frobenius(X)[idx_t],
        desc=ctx.label(f"dop to the gate, {len(elements)} runs"),
    )
    return X, S, seeds, elements, out
