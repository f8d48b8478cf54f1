"""Time to a certified optimum of principal component pursuit, against the usual solvers.

For robust-PCA problems like the paper's (You et al. 2020, Sec. 4.1: ``Y = X + S``,
``X = U U^T`` of rank r, a fraction p of entries corrupted by N(0, 10^2), lambda =
1/sqrt(n)), ``--problems`` per (rank, p) cell and size, in float64, measures per problem

* ``certified``: :func:`implicit_bias.convex.pcp` at tol 1e-6, batched, on ``--threads``
  torch threads (one process);
* ``ialm1.5``: the textbook inexact ALM of Lin, Chen, Ma (2010) written plainly in NumPy (full
  SVD per iteration, mu = 1.25/||Y||_2, rho = 1.5, mu_max = 1e7 mu, stop at
  ||Y - X - S||_F/||Y||_F < 1e-7), one BLAS thread, one process; ``ialm1.5x2``: the same in
  two processes (one per core, the fair CPU baseline for independent problems);
  ``ialm1.2x2``: the same with rho = 1.2;
* ``pyrpca x2``: the PyPI package ``pyrpca`` (``rpca_pcp_ialm`` at its defaults), two
  processes, if it is installed;
* ``apg``: :func:`implicit_bias.apg.apg_rpca` at tol 1e-7 (the paper's Fig. 2b method),
  batched on the torch threads.

Each method's time per problem (ms) is the best of ``--repeats`` interleaved runs of the
whole cell. Accuracy is measured against a reference, :func:`~implicit_bias.convex.pcp` at
``--ref-tol``, cross-checked against Clarabel (cvxpy) on ``--clarabel`` problems: the
relative Frobenius distance of X to the reference X, and whether the method's point
(X, Y - X) is within 1e-6 of the optimum, judged by the reference's dual bound
:math:`(P - D_{ref})/\\max(1, P) \\le 10^{-6}` (a certificate for that point). Prints a table
and writes JSON::

    python benchmarks/bench_convex.py [--out benchmarks/out/convex.json] [--sizes 50 100]
        [--problems 20] [--cells 1:0.1,10:0.2] [--repeats 3] [--threads 2] [--clarabel 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

# The NumPy loops get one BLAS thread, here and in the worker processes (which inherit
# the environment); BLAS reads this when NumPy loads. torch's threads are set below.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

TOL = 1e-6


def ialm(Y: np.ndarray, lam: float, rho: float = 1.5, tol: float = 1e-7, max_iter: int = 1000):
    """Lin, Chen, Ma (2010), Algorithm 5, as in their MATLAB ``inexact_alm_rpca``: returns
    ``(X, S, iterations)``."""
    norm_two = np.linalg.norm(Y, 2)
    L = Y / max(norm_two, np.abs(Y).max() / lam)
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    d_norm = np.linalg.norm(Y)
    X = np.zeros_like(Y)
    S = np.zeros_like(Y)
    k = 0
    while k < max_iter:
        k += 1
        T = Y - X + L / mu
        S = np.maximum(T - lam / mu, 0) + np.minimum(T + lam / mu, 0)
        U, sig, Vt = np.linalg.svd(Y - S + L / mu, full_matrices=False)
        keep = sig > 1 / mu
        X = (U[:, keep] * (sig[keep] - 1 / mu)) @ Vt[keep]
        Z = Y - X - S
        L = L + mu * Z
        mu = min(mu * rho, mu_bar)
        if np.linalg.norm(Z) / d_norm < tol:
            break
    return X, S, k


def _ialm_many(args):
    Ys, lam, rho = args
    return [ialm(Y, lam, rho)[0] for Y in Ys]


def _pyrpca_many(args):
    from pyrpca import rpca_pcp_ialm

    Ys, lam = args
    return [np.asarray(rpca_pcp_ialm(Y, lam, verbose=False)[0]) for Y in Ys]


def _split(items, parts):
    k = -(-len(items) // parts)
    return [items[i : i + k] for i in range(0, len(items), k)]


def _options() -> argparse.Namespace:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--out", default="benchmarks/out/convex.json", help="JSON output path")
    args.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    args.add_argument("--problems", type=int, default=20, help="problems per cell")
    args.add_argument(
        "--cells",
        default="1:0.1,5:0.1,5:0.3,10:0.1,10:0.2,10:0.3,25:0.05",
        help="comma-separated rank:p cells (rank is capped at n - 1)",
    )
    args.add_argument("--repeats", type=int, default=3, help="best of this many interleaved timings")
    args.add_argument("--threads", type=int, default=2, help="torch threads, and NumPy worker processes")
    args.add_argument("--ref-tol", type=float, default=1e-9, help="certificate tolerance of the reference")
    args.add_argument(
        "--clarabel",
        type=int,
        default=2,
        help="problems of the smallest size whose reference is cross-checked by Clarabel",
    )
    args.add_argument("--seed", type=int, default=0)
    opts = args.parse_args()
    if min(opts.problems, opts.repeats, opts.threads) < 1 or min(opts.sizes) < 2:
        args.error("--problems, --repeats, --threads must be >= 1 and sizes >= 2")
    opts.cells = [(int(r), float(p)) for r, p in (c.split(":") for c in opts.cells.split(","))]
    return opts


class _Pool:
    """The NumPy loops in ``workers`` processes, each with its share of the problems."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        self.pool.submit(sum, [0]).result()  # start the workers before timing

    def map(self, fn, Ys, *extra) -> np.ndarray:
        parts = _split(list(Ys), self.workers)
        return np.stack([X for part in self.pool.map(fn, [(p, *extra) for p in parts]) for X in part])


def _methods(Yt, Ys, lam, *, pool: _Pool, have_pyrpca: bool) -> dict:
    """The timed solvers of one cell, each returning the ``(B, n, n)`` low-rank estimates."""
    from implicit_bias.apg import apg_rpca
    from implicit_bias.convex import pcp

    methods = {
        "certified": lambda: pcp(Yt, lam, tol=TOL).X.numpy(),
        "ialm1.5": lambda: np.stack(_ialm_many((list(Ys), lam, 1.5))),
        "ialm1.5x2": lambda: pool.map(_ialm_many, Ys, lam, 1.5),
        "ialm1.2x2": lambda: pool.map(_ialm_many, Ys, lam, 1.2),
        "apg": lambda: apg_rpca(Yt, lam, tol=1e-7).X.numpy(),
    }
    if have_pyrpca:
        methods["pyrpca x2"] = lambda: pool.map(_pyrpca_many, Ys, lam)
    return methods


def _cell(cell: tuple[int, int, float], opts, pool: _Pool, have_pyrpca: bool) -> tuple[list[dict], list[dict]]:
    """Times every method on one (n, rank, p) cell and measures it against the reference:
    ``(rows, Clarabel checks)``."""
    import torch

    from implicit_bias.convex import pcp
    from implicit_bias.rpca import rpca_problem

    n, rank, p = cell
    lam = 1.0 / math.sqrt(n)
    rng = np.random.default_rng([opts.seed, n, rank, int(round(p * 1000))])
    Ys = np.stack([rpca_problem(n, rank, p, rng).Y for _ in range(opts.problems)])
    Yt = torch.from_numpy(Ys)
    ref = pcp(Yt, lam, tol=opts.ref_tol, max_iter=20_000)
    checks = _clarabel_check(Ys[: opts.clarabel_left], lam, ref, cell) if opts.clarabel_left else []
    opts.clarabel_left -= len(checks)

    methods = _methods(Yt, Ys, lam, pool=pool, have_pyrpca=have_pyrpca)
    best = {k: math.inf for k in methods}
    outputs = {}
    for _ in range(opts.repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    print(
        f"n={n} rank={rank} p={p}: " + ", ".join(f"{k} {1e3 * v / opts.problems:.1f} ms" for k, v in best.items()),
        file=sys.stderr,
        flush=True,
    )
    X_ref = ref.X.numpy()
    rows = []
    for name, X in outputs.items():
        dist = np.linalg.norm(X - X_ref, axis=(1, 2)) / np.linalg.norm(X_ref, axis=(1, 2))
        P = np.array(
            [np.linalg.svd(x, compute_uv=False).sum() + lam * np.abs(y - x).sum() for x, y in zip(X, Ys, strict=True)]
        )
        gap = (P - ref.dual.numpy()) / np.maximum(1.0, np.abs(P))
        rows.append(
            {
                "n": n,
                "rank": rank,
                "p": p,
                "method": name,
                "ms_per_problem": 1e3 * best[name] / opts.problems,
                "median_dist": float(np.median(dist)),
                "max_dist": float(dist.max()),
                "certified_fraction": float(np.mean(gap <= TOL)),
                "max_gap_vs_reference_dual": float(gap.max()),
                "reference_certified": bool(ref.certified.all()),
                "reference_max_gap": float(ref.gap.max()),
                "reference_mean_iterations": float(ref.iterations.double().mean()),
            }
        )
    return rows, checks


def _summary(rows: list[dict], sizes: list[int]) -> dict:
    """Mean time per problem over cells per method, and where the certified solver wins."""
    summary = {}
    for n in sizes:
        at = [r for r in rows if r["n"] == n]
        cells = list(dict.fromkeys((r["rank"], r["p"]) for r in at))
        names = list(dict.fromkeys(r["method"] for r in at))
        total = {m: sum(r["ms_per_problem"] for r in at if r["method"] == m) / len(cells) for m in names}
        time_of = {(r["method"], r["rank"], r["p"]): r["ms_per_problem"] for r in at}
        won = sum(all(time_of[("certified", *c)] < time_of[(m, *c)] for m in names if m != "certified") for c in cells)
        summary[str(n)] = {
            "mean_ms_per_problem": total,
            "cells": len(cells),
            "cells_faster_than_every_peer": won,
            "faster_than_every_peer_on_average": total["certified"]
            < min(t for m, t in total.items() if m != "certified"),
        }
    return summary


def _print(rows: list[dict], summary: dict, checks: list[dict]) -> None:
    print(
        f"{'n':>4} {'rank':>4} {'p':>5}  {'method':<10} {'ms/problem':>10} {'median dist':>11} "
        f"{'max dist':>9} {'cert 1e-6':>9}"
    )
    for r in rows:
        print(
            f"{r['n']:>4} {r['rank']:>4} {r['p']:>5.2f}  {r['method']:<10} {r['ms_per_problem']:>10.2f} "
            f"{r['median_dist']:>11.1e} {r['max_dist']:>9.1e} {r['certified_fraction']:>9.0%}"
        )
    for n, s in summary.items():
        print(
            f"n = {n}: mean ms/problem over cells: "
            + ", ".join(f"{m} {t:.2f}" for m, t in s["mean_ms_per_problem"].items())
        )
        print(
            f"  certified solver faster than every peer: on average "
            f"{'yes' if s['faster_than_every_peer_on_average'] else 'no'}; "
            f"in {s['cells_faster_than_every_peer']} of {s['cells']} cells"
        )
    for c in checks:
        print(
            f"reference vs Clarabel (n={c['n']}, rank {c['rank']}, p {c['p']}): objective {c['rel_objective']:.1e}, "
            f"X {c['rel_dist_X']:.1e} (Clarabel {c['status']}, {c['seconds']:.1f} s)"
        )


def main() -> None:
    opts = _options()
    import torch

    torch.set_num_threads(opts.threads)
    try:
        import pyrpca  # noqa: F401

        have_pyrpca = True
    except ImportError:
        have_pyrpca = False
        print("pyrpca is not installed: left out")
    pool = _Pool(opts.threads)
    opts.clarabel_left = opts.clarabel
    rows, checks = [], []
    for n in opts.sizes:
        for rank, p in opts.cells:
            r, c = _cell((n, min(rank, n - 1), p), opts, pool, have_pyrpca)
            rows += r
            checks += c
        opts.clarabel_left = 0  # only the smallest size is cross-checked
    pool.pool.shutdown()
    summary = _summary(rows, opts.sizes)
    _print(rows, summary, checks)
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "threads": opts.threads,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "settings": {k: v for k, v in vars(opts).items() if k not in ("out", "clarabel_left")},
        "pyrpca": have_pyrpca,
        "results": rows,
        "summary": summary,
        "reference_vs_clarabel": checks,
    }
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


def _clarabel_check(Ys, lam, ref, cell: tuple[int, int, float]) -> list[dict]:
    """The reference's objective and X against Clarabel's, on the first problems of a cell."""
    import cvxpy as cp

    n, rank, p = cell
    checks = []
    for i, Y in enumerate(Ys):
        X, S = cp.Variable(Y.shape), cp.Variable(Y.shape)
        prob = cp.Problem(cp.Minimize(cp.normNuc(X) + lam * cp.sum(cp.abs(S))), [X + S == Y])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
        seconds = time.perf_counter() - start
        X_ref = ref.X[i].numpy()
        checks.append(
            {
                "n": n,
                "rank": rank,
                "p": p,
                "status": prob.status,
                "seconds": seconds,
                "rel_objective": abs(ref.primal[i].item() - prob.value) / abs(prob.value),
                "rel_dist_X": float(np.linalg.norm(X_ref - X.value) / np.linalg.norm(X.value)),
            }
        )
    return checks


if __name__ == "__main__":
    main()
