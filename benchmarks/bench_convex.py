r"""Time to a certified optimum of principal component pursuit, against the usual solvers.

For robust-PCA problems like the paper's (You et al. 2020, Sec. 4.1: ``Y = X + S``,
``X = U U^T`` of rank r, a fraction p of entries corrupted by N(0, 10^2), lambda =
1/sqrt(n)), ``--problems`` per (rank, p) cell and size, in float64, measures each solver's
time per problem to a point within a relative duality gap of 1e-6 of the optimum:

* ``pcp``: :func:`implicit_bias.convex.pcp` at tol 1e-6, batched on ``--threads`` torch
  threads (one process); it certifies its own points;
* ``ialm``: the textbook inexact ALM of Lin, Chen, Ma (2010) written plainly in NumPy (full
  SVD per iteration, mu = 1.25/||Y||_2 growing by rho to 1e7 mu, stop at
  ||Y - X - S||_F/||Y||_F < tol), one BLAS thread, one process; ``ialm x2``: the same in
  ``--threads`` processes (the fair CPU baseline for independent problems);
* ``pyrpca x2``: the PyPI package ``pyrpca`` (``rpca_pcp_ialm``), in ``--threads``
  processes, if it is installed;
* ``apg``: :func:`implicit_bias.apg.apg_rpca`, the paper's Fig. 2b method, batched on the
  torch threads.

The peers do not certify, so each runs along a ladder of settings, from its defaults
(iALM: rho = 1.5, tol 1e-7; APG: tol 1e-7) towards tighter ones (smaller rho, smaller
tol), and its point (X, Y - X) is judged against a reference's dual bound:
:math:`(P - D_{ref})/\max(1, |P|) \le 10^{-6}` certifies it. The reference is
:func:`~implicit_bias.convex.pcp` at ``--ref-tol``, cross-checked against Clarabel (cvxpy) on
``--clarabel`` problems. A peer's time to 1e-6 is that of the first rung at which every
problem of the cell is within 1e-6; where no rung gets there, the table gives its time and
largest gap at its defaults. Times are the best of ``--repeats`` interleaved runs of the
whole cell, of pcp, of every peer at its defaults and of every peer at its 1e-6 rung. Prints
per cell each method's time per problem (ms) and the ratio of pcp's to the fastest peer's,
and writes JSON::

    python benchmarks/bench_convex.py [--out benchmarks/out/convex.json] [--sizes 50 100]
        [--problems 8] [--cells 1:0.1,5:0.1,10:0.3] [--repeats 3] [--threads 2]
        [--clarabel 1] [--markdown PATH]
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


def ialm(Y: np.ndarray, lam: float, rho: float = 1.5, tol: float = 1e-7, max_iter: int = 3000):
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
    Ys, lam, setting = args
    return [ialm(Y, lam, **setting)[0] for Y in Ys]


def _pyrpca_many(args):
    from pyrpca import rpca_pcp_ialm

    Ys, lam, setting = args
    return [np.asarray(rpca_pcp_ialm(Y, lam, verbose=False, max_iter=3000, **setting)[0]) for Y in Ys]


def _split(items, parts):
    k = -(-len(items) // parts)
    return [items[i : i + k] for i in range(0, len(items), k)]


# Each peer's settings, from its defaults towards tighter ones (and more time).
IALM_LADDER = [
    {"rho": 1.5, "tol": 1e-7},
    {"rho": 1.2, "tol": 1e-7},
    {"rho": 1.1, "tol": 1e-8},
    {"rho": 1.05, "tol": 1e-9},
]
APG_LADDER = [{"tol": 1e-7}, {"tol": 1e-8}, {"tol": 1e-9}, {"tol": 1e-10}]


def _options() -> argparse.Namespace:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--out", default="benchmarks/out/convex.json", help="JSON output path")
    args.add_argument("--markdown", help="also write the table as Markdown to this path")
    args.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    args.add_argument("--problems", type=int, default=8, help="problems per cell")
    args.add_argument(
        "--cells",
        default="1:0.1,5:0.1,10:0.3",
        help="comma-separated rank:p cells (rank is capped at n - 1)",
    )
    args.add_argument("--repeats", type=int, default=3, help="best of this many interleaved timings")
    args.add_argument("--threads", type=int, default=2, help="torch threads, and NumPy worker processes")
    args.add_argument("--ref-tol", type=float, default=1e-8, help="certificate tolerance of the reference")
    args.add_argument(
        "--clarabel",
        type=int,
        default=1,
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


def _peers(Yt, Ys, lam, *, pool: _Pool, have_pyrpca: bool) -> dict:
    """Every peer's ladder: ``{name: [(setting, run)]}``, each run returning the ``(B, n, n)``
    low-rank estimates."""
    from implicit_bias.apg import apg_rpca

    def ialm_one(setting):
        return lambda: np.stack(_ialm_many((list(Ys), lam, setting)))

    def ialm_pool(setting):
        return lambda: pool.map(_ialm_many, Ys, lam, setting)

    def pyrpca_pool(setting):
        return lambda: pool.map(_pyrpca_many, Ys, lam, setting)

    def apg(setting):
        return lambda: apg_rpca(Yt, lam, max_iter=20_000, **setting).X.numpy()

    x = f" x{pool.workers}"
    peers = {
        "ialm": [(s, ialm_one(s)) for s in IALM_LADDER],
        "ialm" + x: [(s, ialm_pool(s)) for s in IALM_LADDER],
        "apg": [(s, apg(s)) for s in APG_LADDER],
    }
    if have_pyrpca:
        peers["pyrpca" + x] = [(s, pyrpca_pool(s)) for s in IALM_LADDER]
    return peers


def _gaps(X: np.ndarray, Ys: np.ndarray, lam: float, dual_ref: np.ndarray) -> np.ndarray:
    """Relative duality gaps of the points (X, Y - X) against the reference's dual bounds."""
    P = np.array(
        [np.linalg.svd(x, compute_uv=False).sum() + lam * np.abs(y - x).sum() for x, y in zip(X, Ys, strict=True)]
    )
    return (P - dual_ref) / np.maximum(1.0, np.abs(P))


def _first_rung(ladder, Ys, lam, dual_ref, same_as: int | None) -> tuple[int | None, dict]:
    """The first rung of a ladder whose points are all within TOL, and each tried rung's
    largest gap. ``same_as``: the rung already found for a peer that computes the same
    points (the one-process iALM and its pool), which is then taken without rerunning."""
    if same_as is not None or not ladder:
        return same_as, {}
    tried = {}
    for i, (_, run) in enumerate(ladder):
        tried[i] = float(_gaps(run(), Ys, lam, dual_ref).max())
        if tried[i] <= TOL:
            return i, tried
    return None, tried


def _cell(cell: tuple[int, int, float], opts, pool: _Pool, have_pyrpca: bool) -> tuple[list[dict], list[dict]]:
    """Times pcp and every peer on one (n, rank, p) cell: ``(rows, Clarabel checks)``."""
    import torch

    from implicit_bias.convex import pcp
    from implicit_bias.rpca import rpca_problem

    n, rank, p = cell
    lam = 1.0 / math.sqrt(n)
    rng = np.random.default_rng([opts.seed, n, rank, int(round(p * 1000))])
    Ys = np.stack([rpca_problem(n, rank, p, rng).Y for _ in range(opts.problems)])
    Yt = torch.from_numpy(Ys)
    ref = pcp(Yt, lam, tol=opts.ref_tol, max_iter=50_000)
    dual_ref = ref.dual.numpy()
    checks = _clarabel_check(Ys[: opts.clarabel_left], lam, ref, cell) if opts.clarabel_left else []
    opts.clarabel_left -= len(checks)

    peers = _peers(Yt, Ys, lam, pool=pool, have_pyrpca=have_pyrpca)
    names = list(peers)
    # The pool computes the one-process iALM's points; its ladder is searched first.
    order = sorted(names, key=lambda m: not m.startswith("ialm x"))
    rung, tried = {}, {}
    for name in order:
        twin = next((rung[m] for m in rung if name == "ialm" and m.startswith("ialm x")), None)
        rung[name], tried[name] = _first_rung(peers[name], Ys, lam, dual_ref, twin)

    # The timed runs, interleaved: pcp, every peer at its defaults and at its 1e-6 rung.
    runs = {("pcp", 0): lambda: pcp(Yt, lam, tol=TOL)}
    for name in names:
        runs[(name, 0)] = peers[name][0][1]
        if rung[name] is not None:
            runs[(name, rung[name])] = peers[name][rung[name]][1]
    best = dict.fromkeys(runs, math.inf)
    outputs = {}
    for _ in range(opts.repeats):
        for key, fn in runs.items():
            start = time.perf_counter()
            outputs[key] = fn()
            best[key] = min(best[key], time.perf_counter() - start)
    ms = {key: 1e3 * t / opts.problems for key, t in best.items()}

    res = outputs[("pcp", 0)]
    X_ref = ref.X.numpy()
    common = {
        "n": n,
        "rank": rank,
        "p": p,
        "reference_certified": bool(ref.certified.all()),
        "reference_max_gap": float(ref.gap.max()),
        "reference_mean_iterations": float(ref.iterations.double().mean()),
    }

    def judged(X):
        dist = np.linalg.norm(X - X_ref, axis=(1, 2)) / np.linalg.norm(X_ref, axis=(1, 2))
        gap = _gaps(X, Ys, lam, dual_ref)
        return {"median_dist": float(np.median(dist)), "max_dist": float(dist.max()), "max_gap": float(gap.max())}

    rows = [
        {
            **common,
            "method": "pcp",
            "setting": {"tol": TOL},
            "ms_to_1e-6": ms[("pcp", 0)] if bool(res.certified.all()) else None,
            "ms_default": ms[("pcp", 0)],
            "certified_fraction": float(res.certified.double().mean()),
            "max_certified_gap": float(res.gap.max()),
            "mean_iterations": float(res.iterations.double().mean()),
            "default": judged(res.X.numpy()),
        }
    ]
    for name in names:
        r = rung[name]
        rows.append(
            {
                **common,
                "method": name,
                "setting": peers[name][r][0] if r is not None else None,
                "ms_to_1e-6": ms[(name, r)] if r is not None else None,
                "ms_default": ms[(name, 0)],
                "rung_max_gaps": {str(peers[name][i][0]): g for i, g in tried[name].items()},
                "default": judged(outputs[(name, 0)]),
            }
        )
    pcp_ms = rows[0]["ms_to_1e-6"]
    reached = [(row["ms_to_1e-6"], row["method"]) for row in rows[1:] if row["ms_to_1e-6"] is not None]
    fastest = min(reached) if reached else (None, None)
    for row in rows:
        row["fastest_peer"], row["fastest_peer_ms_to_1e-6"] = fastest[1], fastest[0]
        row["pcp_over_fastest_peer"] = pcp_ms / fastest[0] if reached and pcp_ms is not None else None
    print(
        f"n={n} rank={rank} p={p}: "
        + ", ".join(f"{row['method']} {row['ms_to_1e-6'] or math.nan:.1f} ms" for row in rows),
        file=sys.stderr,
        flush=True,
    )
    return rows, checks


def _summary(rows: list[dict], sizes: list[int]) -> dict:
    """Per size: the cells, and in how many pcp is at or below the fastest peer's time to 1e-6."""
    summary = {}
    for n in sizes:
        at = [r for r in rows if r["n"] == n and r["method"] == "pcp"]
        ratios = [r["pcp_over_fastest_peer"] for r in at if r["pcp_over_fastest_peer"] is not None]
        summary[str(n)] = {
            "cells": len(at),
            "cells_certified": sum(r["ms_to_1e-6"] is not None for r in at),
            "cells_a_peer_reached_1e-6": len(ratios),
            "cells_pcp_at_or_below_fastest_peer": sum(q <= 1.0 for q in ratios),
            "max_ratio": max(ratios) if ratios else None,
            "geometric_mean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
        }
    return summary


def _fmt(ms) -> str:
    return "-" if ms is None else f"{ms:.1f}"


def _print(rows: list[dict], summary: dict, checks: list[dict]) -> None:
    print(f"time per problem (ms) to a relative duality gap of {TOL:g}; '-': not reached at any setting tried")
    print(
        f"{'n':>4} {'rank':>4} {'p':>5}  {'method':<10} {'to 1e-6':>8} {'setting':<22} "
        f"{'default':>8} {'gap there':>9} {'dist there':>10}"
    )
    for r in rows:
        setting = "" if r["setting"] is None else ", ".join(f"{k} {v:g}" for k, v in r["setting"].items())
        print(
            f"{r['n']:>4} {r['rank']:>4} {r['p']:>5.2f}  {r['method']:<10} {_fmt(r['ms_to_1e-6']):>8} "
            f"{setting:<22} {r['ms_default']:>8.1f} {r['default']['max_gap']:>9.1e} "
            f"{r['default']['median_dist']:>10.1e}"
        )
        if r["method"] == "pcp":
            ratio = r["pcp_over_fastest_peer"]
            print(
                f"{'':>16}  fastest peer to 1e-6: {r['fastest_peer'] or 'none'} "
                f"{_fmt(r['fastest_peer_ms_to_1e-6'])} ms; pcp / fastest peer: "
                + ("-" if ratio is None else f"{ratio:.2f}")
            )
    for n, s in summary.items():
        worst = "-" if s["max_ratio"] is None else f"{s['max_ratio']:.2f}"
        print(
            f"n = {n}: pcp certified every problem in {s['cells_certified']} of {s['cells']} cells; "
            f"at or below the fastest peer's time to 1e-6 in {s['cells_pcp_at_or_below_fastest_peer']} of "
            f"{s['cells_a_peer_reached_1e-6']} cells a peer reached (largest ratio {worst})"
        )
    for c in checks:
        print(
            f"reference vs Clarabel (n={c['n']}, rank {c['rank']}, p {c['p']}): objective {c['rel_objective']:.1e}, "
            f"X {c['rel_dist_X']:.1e} (Clarabel {c['status']}, {c['seconds']:.1f} s)"
        )


def _markdown(report: dict) -> str:
    """The report as Markdown: the machine, each cell's times per problem, the summary, the cross-check."""
    m = report["machine"]
    lines = [
        f"Time per problem (ms) to a relative duality gap of {report['tol']:g} of robust-PCA problems "
        f"(You et al. 2020, Sec. 4.1; lambda = 1/sqrt(n)), {report['settings']['problems']} problems per cell, "
        f"float64, best of {report['settings']['repeats']} interleaved runs (`benchmarks/bench_convex.py`).",
        "",
        f"Commit `{report['commit']}`, {m['description']}; {m['threads']} threads (torch) or processes "
        f"(NumPy); torch {m['torch']}, NumPy {m['numpy']}; pyrpca "
        + ("installed" if report["pyrpca"] else "not installed: left out")
        + ".",
        "",
        "'-': not within 1e-6 at any setting of its ladder; the default's largest gap is then the distance "
        "that remains. Ratio: pcp's time over the fastest peer's, both to 1e-6.",
        "",
        "| n | rank | p | method | ms to 1e-6 | setting | ms at defaults | largest gap there | ratio |",
        "|---:|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    for r in report["results"]:
        setting = "" if r["setting"] is None else ", ".join(f"{k} {v:g}" for k, v in r["setting"].items())
        ratio = r["pcp_over_fastest_peer"] if r["method"] == "pcp" else None
        lines.append(
            f"| {r['n']} | {r['rank']} | {r['p']:.2f} | {r['method']} | {_fmt(r['ms_to_1e-6'])} | {setting} | "
            f"{r['ms_default']:.1f} | {r['default']['max_gap']:.1e} | {'' if ratio is None else f'{ratio:.2f}'} |"
        )
    lines.append("")
    for n, s in report["summary"].items():
        worst = "-" if s["max_ratio"] is None else f"{s['max_ratio']:.2f}"
        lines.append(
            f"- n = {n}: pcp certified every problem in {s['cells_certified']} of {s['cells']} cells; at or "
            f"below the fastest peer's time in {s['cells_pcp_at_or_below_fastest_peer']} of "
            f"{s['cells_a_peer_reached_1e-6']} cells a peer reached (largest ratio {worst})."
        )
    for c in report["reference_vs_clarabel"]:
        lines.append(
            f"- The reference against Clarabel (n = {c['n']}, rank {c['rank']}, p {c['p']}): objective "
            f"{c['rel_objective']:.1e}, X {c['rel_dist_X']:.1e} apart, relative (Clarabel {c['status']})."
        )
    return "\n".join(lines) + "\n"


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
    from bench_rpca import git_commit

    from implicit_bias.publish import _machine

    report = {
        "commit": git_commit(),
        "machine": {
            "description": _machine(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "threads": opts.threads,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "settings": {k: v for k, v in vars(opts).items() if k not in ("out", "markdown", "clarabel_left")},
        "tol": TOL,
        "ladders": {"ialm": IALM_LADDER, "pyrpca": IALM_LADDER, "apg": APG_LADDER},
        "pyrpca": have_pyrpca,
        "results": rows,
        "summary": summary,
        "reference_vs_clarabel": checks,
    }
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    if opts.markdown:
        md = Path(opts.markdown)
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(_markdown(report))
        print(f"wrote {md}")


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
