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
