"""Throughput of the batched robust-PCA engines against per-problem NumPy baselines and a roofline.

Everything runs on one machine. The benchmark's own process uses ``--threads`` threads for
torch and for NumPy's BLAS (default: every CPU it may use). Beside it run P = ``--threads``
worker processes (spawn method) with one BLAS thread each (OMP, OPENBLAS and
MKL_NUM_THREADS = 1 set before they import NumPy), one per core: the fair CPU baseline for
independent problems. The workers hold the problems split evenly (shares differ by at most
one); a process-loop rate is all their problem-steps over the wall time from sending the
work to the last reply.

Part 1, one row of the phase grid: n = ``--n``, rank ``--rank``, 25 values of p x
``--trials`` trials, all in one batch, in each type of ``--dtype`` (both sides in that type):

* DOP, trial-steps/s of ``implicit_bias.rpca.dop_descent`` (``--steps`` steps), against
  the same iteration written plainly in NumPy, one problem after another: (a) in this
  process (``--threads`` BLAS threads) on the first m = ``--loop-trials`` problems, (b) in
  the P workers at once on the first min(batch, P x ceil(m / P)) problems, (c) in worker 0
  alone on its share (one thread); and against the roofline (below).
* APG, trial-iterations/s of ``implicit_bias.apg.apg_rpca`` (tol = 0, ``--apg-iters``
  iterations) with its default singular-value shrinkage, ``svt="gram"`` (eigendecomposition
  of G^T G), against the loops (a), (b), (c) of Lin et al.'s iteration with the same
  shrinkage; separately, ``apg_rpca(svt="svd")`` against loop (a) with a full SVD.

Sides are timed interleaved, after one warm-up run each, in ``--repeats`` rounds; the best
time of each is kept, so that a burst of load hits every side alike. Rate = problems x
steps / best time; a run's fixed work (about one step's) is included, 1/``--steps`` of it.
The roofline's products are repeated max(10, ``--steps`` / 2) times.

Roofline. A DOP step costs two n x n x n products per problem: U U^T and T U (T = R + R^T;
timed with the problem's Y in its place). Each is timed four ways, each repeating the
product on the batch's own matrices: torch.bmm on the whole batch (all threads), torch.bmm
in the engine's cache-sized chunks (one thread per chunk), NumPy one problem at a time in
this process, and the same in the P workers.
NumPy computes ``u @ u.T`` as a symmetric product (BLAS syrk, half a general product's
flops), so U U^T is counted at the best of general and symmetric. Roofline rate (problem-
steps/s) = 1 / (best time of one U U^T + best time of one T U): the rate of an engine whose
steps cost only their two products, each computed the fastest way measured here.

Part 2, the DOP scaling table (skipped with ``--skip-scaling``; Part 1 skipped with
``--skip-row``): every n in ``--sizes`` x batch in ``--batches`` x type in ``--dtypes``, on
problems of the row's kind (p cycling through its 25 values, rank in the proportion
``--rank`` / ``--n`` to n). Per cell, in problem-steps/s: the engine; the loop in this
process over every problem of the cell; the process loops over every problem, split evenly
(with batch < P some workers idle); the roofline. With ``--loop-problems M`` the loops run
the first min(batch, M) problems (the process loops min(batch, P x ceil(M / P))), which
bounds the time of the largest cells; their rates are per problem-step all the same.
Every side's steps (or repetitions) are chosen by timing, after one warm-up run:
multiplied by 4 until a run takes a tenth of ``--cell-seconds``, then scaled to take about ``--cell-seconds``
(a quarter of that for each of the roofline's eight product timings), at least
``--min-steps`` and at most 20,000 DOP steps (the paper's run length). A run of s DOP
steps also does fixed work once (copies of the initial state, one more residual, X = U U^T
at the end), so DOP rates here are marginal: problems x (s - 1) / (t(s) - t(1)), with the
best of ``--cell-repeats`` interleaved rounds for each of t(s) and t(1) (the plain
problems x s / t(s) where noise makes t(s) <= t(1); flagged in the JSON). Each cell reports
engine/loop, engine/process loops and engine/roofline, and marks the targets it misses:
engine >= loop and engine >= process loops (the engine never the slow choice), and an
engine/roofline share >= 0.85 at n = 50 with batch >= 100, >= 0.80 at n >= 200.

Each cell also records the engine's path for its shape (``implicit_bias.rpca.dop_plan``:
torch's or NumPy's products, chunk size, threads).

Everything (the machine: CPU model, cores, versions, BLAS, git commit, wall time; rates,
the steps and best seconds behind each, the products' rates per way, ratios, targets) goes
to the JSON file OUT, rewritten after each cell. With ``--markdown`` and ``--figure`` the
scaling table is then also written as a Markdown table and drawn (PNG and PDF) by
``benchmarks/plot_bench.py``, which redraws them from the JSON alone::

    python benchmarks/bench_rpca.py [OUT.json] [--threads N] [--dtype both] [--device cpu]
        [--sizes 50 100 200 400] [--batches 1 10 100 250] [--dtypes float32 float64]
        [--cell-seconds 1.5] [--skip-scaling | --skip-row] [--markdown MD] [--figure STEM]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PHASE_PS = [round(0.02 * k, 2) for k in range(1, 26)]
LR = 1e-4
PAPER_STEPS = 20_000
TARGET_DOP, TARGET_APG = 5.0, 3.0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="benchmarks/out/rpca.json", help="JSON output path")
    ap.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads for torch and NumPy's BLAS here, and one-thread worker processes "
        "(default: every CPU this process may use)",
    )
    ap.add_argument("--device", default="cpu", help="torch device of the batched engines")
    row = ap.add_argument_group("the phase-grid row")
    row.add_argument("--dtype", default="both", choices=["float32", "float64", "both"])
    row.add_argument("--n", type=int, default=50)
    row.add_argument("--rank", type=int, default=10)
    row.add_argument("--trials", type=int, default=10, help="trials per p (paper: 10)")
    row.add_argument("--steps", type=int, default=200, help="DOP steps timed")
    row.add_argument("--apg-iters", type=int, default=40, help="APG iterations timed")
    row.add_argument("--loop-trials", type=int, default=6, help="problems the NumPy loops run")
    row.add_argument("--repeats", type=int, default=5, help="best of this many interleaved timings")
    table = ap.add_argument_group("the DOP scaling table")
    table.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400])
    table.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 250])
    table.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    table.add_argument(
        "--cell-seconds",
        type=float,
        default=1.5,
        help="time budget of one timed run (a quarter for each product timing)",
    )
    table.add_argument("--cell-repeats", type=int, default=2, help="best of this many interleaved timings")
    table.add_argument("--min-steps", type=int, default=4, help="fewest DOP steps a timed run takes (>= 2)")
    table.add_argument(
        "--loop-problems",
        type=int,
        help="the loops run the first this many problems of a cell (the process loops "
        "P x ceil(this / P)); default: every problem",
    )
    table.add_argument("--skip-scaling", action="store_true", help="only the phase-grid row")
    table.add_argument("--skip-row", action="store_true", help="only the scaling table (Part 2)")
    table.add_argument("--markdown", help="also write the scaling table as Markdown here (benchmarks/plot_bench.py)")
    table.add_argument("--figure", help="also draw the scaling table to this path + .png and + .pdf")
    opts = ap.parse_args()
    if opts.skip_row and opts.skip_scaling:
        ap.error("--skip-row and --skip-scaling leave nothing to measure")
    if (opts.markdown or opts.figure) and opts.skip_scaling:
        ap.error("--markdown and --figure draw the scaling table: not with --skip-scaling")
    counts = (opts.threads, opts.repeats, opts.steps, opts.apg_iters, opts.loop_trials, opts.cell_repeats)
    if min(counts) < 1 or min(opts.sizes + opts.batches) < 1:
        ap.error("--threads, --repeats, --steps, --apg-iters, --loop-trials, --cell-repeats, sizes, batches: >= 1")
    if opts.loop_problems is not None and opts.loop_problems < 1:
        ap.error("--loop-problems must be >= 1")
    if not 2 <= opts.min_steps <= PAPER_STEPS or not opts.cell_seconds > 0:
        ap.error(f"--min-steps must be in [2, {PAPER_STEPS}] and --cell-seconds > 0")
    return opts


# BLAS reads its thread count when NumPy loads. Spawned workers re-run this file as
# __mp_main__ before anything else: they take one thread, the benchmark --threads.
if __name__ == "__main__":
    OPTS = parse_args()
    for _var in BLAS_VARS:
        os.environ[_var] = str(OPTS.threads)
elif __name__ == "__mp_main__":
    for _var in BLAS_VARS:
        os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from implicit_bias.apg import apg_rpca  # noqa: E402
from implicit_bias.batching import batch_chunk, chunk_slices, map_chunks, numpy_blas_controllable  # noqa: E402
from implicit_bias.rpca import dop_descent, dop_plan, rpca_problem  # noqa: E402

# --- The NumPy baselines: one problem at a time (here and in the worker processes) ---


def numpy_dop(Y, U, g, h, *, steps, alpha, lr):
    """The engine's iteration for one problem, plainly in NumPy: steps + 1 residuals and
    steps updates, then X and S, as ``dop_descent`` does."""
    a = alpha * lr
    for k in range(steps + 1):
        R = U @ U.T + g * g - h * h - Y
        if k == steps:
            break
        U = U - 0.5 * lr * ((R + R.T) @ U)
        g = g - a * R * g
        h = h + a * R * h
    return U @ U.T, g * g - h * h


def numpy_svt(G, tau, svt):
    """Singular-value shrinkage as ``implicit_bias.apg.singular_value_threshold``: "gram"
    from the eigendecomposition of G^T G (the engine's default), "svd" from a full SVD."""
    if svt == "svd":
        u, s, vh = np.linalg.svd(G, full_matrices=False)
        return (u * np.maximum(s - tau, 0)) @ vh
    transpose = G.shape[0] < G.shape[1]
    if transpose:
        G = G.T
    evals, V = np.linalg.eigh(G.T @ G)
    sigma = np.sqrt(np.maximum(evals, 0))
    keep = sigma > tau
    scale = np.where(keep, 1 - tau / np.where(keep, sigma, 1), 0)
    out = ((G @ V) * scale) @ V.T
    return out.T if transpose else out


def numpy_apg(Y, *, iters, lam, svt):
    """Lin et al.'s APG with continuation for one problem, plainly in NumPy (scalars are
    Python floats, so float32 stays float32)."""
    mu = float(np.linalg.norm(Y, 2))
    mu_bar = 1e-9 * mu
    X = Xp = S = Sp = np.zeros_like(Y)
    t = tp = 1.0
    for _ in range(iters):
        w = (tp - 1) / t
        YX, YS = X + w * (X - Xp), S + w * (S - Sp)
        G = (YX + YS - Y) / 2
        Xn = numpy_svt(YX - G, mu / 2, svt)
        GS = YS - G
        Sn = np.sign(GS) * np.maximum(np.abs(GS) - lam * mu / 2, 0)
        tp, t = t, (1 + math.sqrt(1 + 4 * t * t)) / 2
        T = Xn + Sn - YX - YS
        crit = np.sqrt(np.sum((2 * (YX - Xn) + T) ** 2) + np.sum((2 * (YS - Sn) + T) ** 2))
        crit /= 2 * max(1.0, np.sqrt(np.sum(Xn**2) + np.sum(Sn**2)))
        mu = max(0.9 * mu, mu_bar)
        Xp, X, Sp, S = X, Xn, S, Sn
    return X, S


def loop_dop(w, *, steps, alpha, lr):
    for Y, U, g in zip(w["Y"], w["U"], w["g"], strict=True):
        numpy_dop(Y, U, g, g.copy(), steps=steps, alpha=alpha, lr=lr)


def loop_apg(w, *, iters, lam, svt):
    for Y in w["Y"]:
        numpy_apg(Y, iters=iters, lam=lam, svt=svt)


def loop_products(w, *, product, reps):
    """``reps`` times each problem's U U^T ("uut": syrk in NumPy) or T U ("tu", T = its Y)."""
    for Y, U in zip(w["Y"], w["U"], strict=True):
        a, b = (U, U.T) if product == "uut" else (Y, U)
        out = np.empty_like(U)
        for _ in range(reps):
            np.matmul(a, b, out=out)


LOOPS = {"dop": loop_dop, "apg": loop_apg, "products": loop_products}


def _worker(conn) -> None:
    """A baseline process: keeps its share of the problems and runs the loops it is sent."""
    conn.send({var: os.environ.get(var) for var in BLAS_VARS})
    share: dict = {}
    while (message := conn.recv()) is not None:
        op, kw = message
        if op == "load":
            share = kw
        else:
            LOOPS[op](share, **kw)
        conn.send(len(share.get("Y", ())))


class Workers:
    """``count`` one-thread NumPy processes, each with a share of the problems."""

    def __init__(self, count: int):
        ctx = multiprocessing.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(theirs,), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(proc)
        self.blas_env = [c.recv() for c in self.conns]
        self.sizes = [0] * count

    def load(self, problems: dict, count: int) -> None:
        """Share the first ``count`` problems out evenly (in order; sizes differ by at most one)."""
        cuts = [count * i // len(self.conns) for i in range(len(self.conns) + 1)]
        for i, conn in enumerate(self.conns):
            conn.send(("load", {k: v[cuts[i] : cuts[i + 1]] for k, v in problems.items()}))
        self.sizes = [c.recv() for c in self.conns]

    def run(self, op: str, only: int | None = None, **kw) -> None:
        """Every worker (or worker ``only``) runs loop ``op`` on its share; returns when all are done."""
        conns = self.conns if only is None else self.conns[only : only + 1]
        for c in conns:
            c.send((op, kw))
        for c in conns:
            c.recv()

    def close(self) -> None:
        for c in self.conns:
            c.send(None)
        for p in self.procs:
            p.join(timeout=30)


# --- Timing ---


@dataclass
class Side:
    """One thing timed: ``run(k)`` does k steps (iterations, products) on each of ``problems``
    problems. With ``base`` > 0 the rate is marginal: (k - base) steps over t(k) - t(base)."""

    run: Callable[[int], object]
    problems: int
    k: int = 1
    base: int = 0


def timed(run, k: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run(k)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def calibrate(side: Side, budget: float, device: torch.device, *, floor: int = 1, cap: int | None = None) -> None:
    """Set ``side.k`` so that a run takes about ``budget`` seconds (after a warm-up run, whose
    one-time costs would otherwise stop the search at k = 1)."""
    side.run(1)
    k = 1
    while (t := timed(side.run, k, device)) < budget / 10 and (cap is None or k < cap):
        k = 4 * k if cap is None else min(4 * k, cap)
    k = max(floor, math.ceil(k * budget / max(t, 1e-9)))
    side.k = k if cap is None else min(k, cap)


def best_rates(sides: dict[str, Side], repeats: int, device: torch.device, *, warmup: bool) -> dict:
    """Interleaved timings, the best of ``repeats`` per side: ``{name: {"rate", "k", "seconds", ...}}``."""
    if warmup:
        for s in sides.values():
            s.run(s.k)
    best = {name: [math.inf, math.inf] for name in sides}
    for _ in range(repeats):
        for name, s in sides.items():
            best[name][0] = min(best[name][0], timed(s.run, s.k, device))
            if s.base:
                best[name][1] = min(best[name][1], timed(s.run, s.base, device))
    out = {}
    for name, s in sides.items():
        t, t0 = best[name]
        out[name] = {"k": s.k, "problems": s.problems, "seconds": t}
        if s.base:
            marginal = t > t0
            out[name] |= {"base_k": s.base, "base_seconds": t0, "marginal": marginal}
            out[name]["rate"] = s.problems * (s.k - s.base) / (t - t0) if marginal else s.problems * s.k / t
        else:
            out[name]["rate"] = s.problems * s.k / t
    return out


# --- Workloads and the sides timed on them ---


@dataclass
class Bench:
    opts: argparse.Namespace
    device: torch.device
    workers: Workers


def draw(n: int, rank: int, ps: list[float], seed: int) -> dict[str, np.ndarray]:
    """One planted problem per p (float64), with DOP's initial U and g."""
    rng = np.random.default_rng(seed)
    Y = np.stack([rpca_problem(n, rank, p, rng).Y for p in ps])
    return {"Y": Y, "U": 1e-4 * rng.standard_normal(Y.shape), "g": 1e-4 * rng.standard_normal(Y.shape)}


def cast(w: dict, dtype_name: str) -> dict:
    return {k: v.astype(dtype_name, copy=False) for k, v in w.items()}


def tensors(b: Bench, w: dict) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(b.device) for k, v in w.items()}


def dop_sides(b: Bench, w: dict, t: dict, loop_count: int, *, base: int) -> dict[str, Side]:
    """The engine (on ``t``, ``w`` as tensors), the loop here on the first ``loop_count``
    problems, the workers' loops."""
    n, B = w["Y"].shape[-1], len(w["Y"])
    kw = {"alpha": math.sqrt(n), "lr": LR}
    part = {k: v[:loop_count] for k, v in w.items()}
    return {
        "dop/engine": Side(
            lambda k: dop_descent(t["Y"], t["U"], t["g"], t["g"].clone(), kw["alpha"], LR, steps=k, record_every=k),
            B,
            base=base,
        ),
        "dop/loop": Side(lambda k: loop_dop(part, steps=k, **kw), loop_count, base=base),
        "dop/process_loops": Side(lambda k: b.workers.run("dop", steps=k, **kw), sum(b.workers.sizes), base=base),
    }


def apg_sides(b: Bench, w: dict, t: dict, loop_count: int) -> dict[str, Side]:
    Y = t["Y"]
    lam = 1 / math.sqrt(Y.shape[-1])
    part = {k: v[:loop_count] for k, v in w.items()}
    # tol = 0: every problem runs exactly k iterations on every side.
    return {
        "apg/engine": Side(lambda k: apg_rpca(Y, lam, tol=0.0, max_iter=k), len(Y)),
        "apg/engine_svd": Side(lambda k: apg_rpca(Y, lam, tol=0.0, max_iter=k, svt="svd"), len(Y)),
        "apg/loop": Side(lambda k: loop_apg(part, iters=k, lam=lam, svt="gram"), loop_count),
        "apg/loop_svd": Side(lambda k: loop_apg(part, iters=k, lam=lam, svt="svd"), loop_count),
        "apg/process_loops": Side(lambda k: b.workers.run("apg", iters=k, lam=lam, svt="gram"), sum(b.workers.sizes)),
        "apg/one_thread_loop": Side(
            lambda k: b.workers.run("apg", only=0, iters=k, lam=lam, svt="gram"), b.workers.sizes[0]
        ),
    }


def product_sides(b: Bench, w: dict, t: dict, product: str) -> dict[str, Side]:
    """The four ways of timing one of a DOP step's products (see the module's docstring)."""
    left, right = (t["U"], t["U"].mT) if product == "uut" else (t["Y"], t["U"])
    out = torch.empty_like(left)
    B, n = len(left), left.shape[-1]
    slices = chunk_slices(B, batch_chunk(n * n, left.dtype, b.device, B))

    def whole(k):
        for _ in range(k):
            torch.bmm(left, right, out=out)

    def chunks(k):
        def one(c):
            for _ in range(k):
                torch.bmm(left[c], right[c], out=out[c])

        map_chunks(one, slices, b.device)

    return {
        f"{product}/torch_whole_batch": Side(whole, B),
        f"{product}/torch_chunks": Side(chunks, B),
        f"{product}/numpy_loop": Side(lambda k: loop_products(w, product=product, reps=k), B),
        f"{product}/numpy_processes": Side(
            lambda k: b.workers.run("products", product=product, reps=k), sum(b.workers.sizes)
        ),
    }


def roofline_sides(b: Bench, w: dict, t: dict) -> dict[str, Side]:
    return product_sides(b, w, t, "uut") | product_sides(b, w, t, "tu")


def roofline(rates: dict) -> dict:
    """Problem-steps/s if a step cost only its two products, each the fastest way timed."""
    ways = {p: {k.split("/")[1]: r["rate"] for k, r in rates.items() if k.startswith(p + "/")} for p in ("uut", "tu")}
    best = {p: max(ways[p], key=ways[p].get) for p in ways}
    rate = 1 / sum(1 / ways[p][best[p]] for p in ways)
    return {"problem_steps_per_s": rate, "products_per_s": ways, "fastest_way": best}


# --- Part 1: one row of the phase grid ---


def measure_row(b: Bench, w: dict) -> dict:
    opts, B = b.opts, len(w["Y"])
    m = min(opts.loop_trials, B)
    P = len(b.workers.conns)
    b.workers.load(w, min(B, P * -(-m // P)))
    t = tensors(b, w)
    sides = dop_sides(b, w, t, m, base=0)
    sides["dop/one_thread_loop"] = Side(
        lambda k: b.workers.run("dop", only=0, steps=k, alpha=math.sqrt(w["Y"].shape[-1]), lr=LR), b.workers.sizes[0]
    )
    for s in sides.values():
        s.k = opts.steps
    for s in (roof := roofline_sides(b, w, t)).values():
        s.k = max(10, opts.steps // 2)
    for s in (apg := apg_sides(b, w, t, m)).values():
        s.k = opts.apg_iters
    r = best_rates(sides | roof | apg, opts.repeats, b.device, warmup=True)
    return {"dop": dop_result(r, roofline(r)), "apg": apg_result(r), "timings": r}


def dop_result(r: dict, roof: dict) -> dict:
    e, lo, pr, one = (r[f"dop/{k}"]["rate"] for k in ("engine", "loop", "process_loops", "one_thread_loop"))
    R = roof["problem_steps_per_s"]
    return {
        "trial_steps_per_s": e,
        "numpy_loop_trial_steps_per_s": lo,
        "process_loops_trial_steps_per_s": pr,
        "numpy_loop_1_blas_thread_rate": one,
        "speedup_vs_numpy_loop": e / lo,
        "speedup_vs_process_loops": e / pr,
        "speedup_vs_fastest_numpy_loop": e / max(lo, pr, one),
        "roofline_trial_steps_per_s": R,
        "roofline": roof,
        "fraction_of_roofline": e / R,
        "numpy_loop_fraction_of_roofline": lo / R,
        "process_loops_fraction_of_roofline": pr / R,
        "roofline_over_numpy_loop": R / lo,
        "target_speedup": TARGET_DOP,
        "meets_target": e / lo >= TARGET_DOP,
    }


def apg_result(r: dict) -> dict:
    keys = ("engine", "engine_svd", "loop", "loop_svd", "process_loops", "one_thread_loop")
    e, es, lo, ls, pr, one = (r[f"apg/{k}"]["rate"] for k in keys)
    return {
        "shrinkage": "gram (eigendecomposition of G^T G), the engine's default, on the engine and every loop",
        "trial_iterations_per_s": e,
        "numpy_loop_trial_iterations_per_s": lo,
        "process_loops_trial_iterations_per_s": pr,
        "numpy_loop_1_blas_thread_rate": one,
        "speedup_vs_numpy_loop": e / lo,
        "speedup_vs_process_loops": e / pr,
        "speedup_vs_fastest_numpy_loop": e / max(lo, pr, one),
        "svd_variant_trial_iterations_per_s": es,
        "svd_variant_numpy_loop_trial_iterations_per_s": ls,
        "svd_variant_speedup_vs_numpy_loop": es / ls,
        "target_speedup": TARGET_APG,
        "meets_target": e / lo >= TARGET_APG,
    }


def print_row(name: str, res: dict, b: Bench) -> None:
    d, a, n, P = res["dop"], res["apg"], b.opts.n, len(b.workers.conns)
    ok = {True: "meets", False: "below"}
    print(f"[{name}] both sides in {name}")
    print(f"  DOP  batched          {d['trial_steps_per_s']:10.0f} trial-steps/s")
    print(
        f"       NumPy loop       {d['numpy_loop_trial_steps_per_s']:10.0f}   DOP {d['speedup_vs_numpy_loop']:.2f}x "
        f"({ok[d['meets_target']]} the {TARGET_DOP:g}x target; loop with {b.opts.threads} BLAS thread(s))"
    )
    print(
        f"       {P} process loops  {d['process_loops_trial_steps_per_s']:10.0f}   DOP "
        f"{d['speedup_vs_process_loops']:.2f}x (one BLAS thread each)"
    )
    print(f"       1-thread loop    {d['numpy_loop_1_blas_thread_rate']:10.0f}   (one worker alone)")
    roof = d["roofline"]
    print(
        f"       roofline         {d['roofline_trial_steps_per_s']:10.0f}   (U U^T by {roof['fastest_way']['uut']}, "
        f"T U by {roof['fastest_way']['tu']}, {n}x{n}): DOP reaches {d['fraction_of_roofline']:.0%}, the loop "
        f"{d['numpy_loop_fraction_of_roofline']:.0%}, the process loops {d['process_loops_fraction_of_roofline']:.0%}"
    )
    print(
        f"  APG  batched          {a['trial_iterations_per_s']:10.0f} trial-iterations/s (gram shrinkage, as the loops)"
    )
    print(
        f"       NumPy loop       {a['numpy_loop_trial_iterations_per_s']:10.0f}   "
        f"APG {a['speedup_vs_numpy_loop']:.2f}x, same shrinkage "
        f"({ok[a['meets_target']]} the {TARGET_APG:g}x target)"
    )
    print(
        f"       {P} process loops  {a['process_loops_trial_iterations_per_s']:10.0f}   APG "
        f"{a['speedup_vs_process_loops']:.2f}x"
    )
    print(f"       1-thread loop    {a['numpy_loop_1_blas_thread_rate']:10.0f}")
    print(
        f"  APG  full SVD: batched {a['svd_variant_trial_iterations_per_s']:.0f}, NumPy loop "
        f"{a['svd_variant_numpy_loop_trial_iterations_per_s']:.0f}: {a['svd_variant_speedup_vs_numpy_loop']:.2f}x"
    )


# --- Part 2: the DOP scaling table ---


def roofline_target(n: int, batch: int) -> float | None:
    if n >= 200:
        return 0.80
    return 0.85 if n == 50 and batch >= 100 else None


def measure_cell(b: Bench, w: dict) -> dict:
    """One cell: every side calibrated to the budget, then timed interleaved."""
    opts, B, n = b.opts, len(w["Y"]), w["Y"].shape[-1]
    start = time.perf_counter()
    m = B if opts.loop_problems is None else min(B, opts.loop_problems)
    P = len(b.workers.conns)
    b.workers.load(w, min(B, P * -(-m // P)))
    t = tensors(b, w)
    dop, roof = dop_sides(b, w, t, m, base=1), roofline_sides(b, w, t)
    for s in dop.values():
        calibrate(s, opts.cell_seconds, b.device, floor=opts.min_steps, cap=PAPER_STEPS)
    for s in roof.values():
        calibrate(s, opts.cell_seconds / 4, b.device)
    r = best_rates(dop | roof, opts.cell_repeats, b.device, warmup=False)
    line = roofline(r)
    e, lo, pr = (r[f"dop/{k}"]["rate"] for k in ("engine", "loop", "process_loops"))
    R = line["problem_steps_per_s"]
    ratios = {"engine_over_loop": e / lo, "engine_over_process_loops": e / pr, "engine_over_roofline": e / R}
    target = roofline_target(n, B)
    checks = {
        "engine_ge_loop": e >= lo,
        "engine_ge_process_loops": e >= pr,
        "roofline_share_target": target,
        "meets_roofline_share": None if target is None else ratios["engine_over_roofline"] >= target,
    }
    misses = [name for name, ok in (("<loop", e >= lo), ("<procs", e >= pr)) if not ok]
    if checks["meets_roofline_share"] is False:
        misses.append(f"roof<{target:.2f}")
    plan = dop_plan(n, n, B, t["Y"].dtype, b.device)
    return {
        "plan": {k: getattr(plan, k) for k in ("products", "chunk", "threads", "torch_threads", "blas_threads")},
        "rates": {"engine": e, "loop": lo, "process_loops": pr, "roofline": R},
        "ratios": ratios,
        "checks": checks,
        "misses": misses,
        "roofline": line,
        "timings": r,
        "wall_s": time.perf_counter() - start,
    }


TABLE_HEAD = (
    f"{'n':>5} {'batch':>6} {'dtype':>8} {'engine':>11} {'loop':>11} {'procs':>11} {'roofline':>11} "
    f"{'eng/loop':>9} {'eng/procs':>9} {'eng/roof':>9}  misses"
)


def table_line(cell: dict) -> str:
    r, q = cell["rates"], cell["ratios"]
    return (
        f"{cell['n']:>5} {cell['batch']:>6} {cell['dtype']:>8} {r['engine']:>11.0f} {r['loop']:>11.0f} "
        f"{r['process_loops']:>11.0f} {r['roofline']:>11.0f} {q['engine_over_loop']:>9.2f} "
        f"{q['engine_over_process_loops']:>9.2f} {q['engine_over_roofline']:>9.2f}  "
        f"{' '.join(cell['misses']) or '-'}  ({cell['wall_s']:.0f} s)"
    )


def scaling(b: Bench, report: dict, out: Path) -> None:
    opts = b.opts
    cells = []
    report["scaling"] = {
        "settings": {
            "sizes": opts.sizes,
            "batches": opts.batches,
            "dtypes": opts.dtypes,
            "cell_seconds": opts.cell_seconds,
            "cell_repeats": opts.cell_repeats,
            "min_steps": opts.min_steps,
            "loop_problems": opts.loop_problems,
            "max_steps": PAPER_STEPS,
            "lr": LR,
            "alpha": "sqrt(n)",
            "units": "problem-steps per second",
        },
        "cells": cells,
    }
    print(f"\nDOP scaling table: problem-steps/s, {opts.threads} thread(s) here, {len(b.workers.conns)} processes")
    print(TABLE_HEAD, flush=True)
    for n in opts.sizes:
        rank = max(1, min(n, round(n * opts.rank / opts.n)))
        for batch in opts.batches:
            w64 = draw(n, rank, [PHASE_PS[i % len(PHASE_PS)] for i in range(batch)], seed=n)
            for dtype_name in opts.dtypes:
                cells.append({"n": n, "batch": batch, "dtype": dtype_name, "rank": rank})
                cells[-1] |= measure_cell(b, cast(w64, dtype_name))
                print(table_line(cells[-1]), flush=True)
                write(report, out)
    print(
        "misses: <loop / <procs: the engine slower than the loop here / than the process loops; "
        "roof<x: engine below that share of the roofline (targets: 0.85 at n = 50, batch >= 100; 0.80 at n >= 200)"
    )
    for key, label in (("engine_ge_loop", "engine >= loop"), ("engine_ge_process_loops", "engine >= process loops")):
        print(f"  {label}: {sum(c['checks'][key] for c in cells)} of {len(cells)} cells")
    judged = [c for c in cells if c["checks"]["meets_roofline_share"] is not None]
    met = sum(c["checks"]["meets_roofline_share"] for c in judged)
    print(f"  roofline share target: met in {met} of {len(judged)} cells with a target")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """``git describe --always --dirty`` of this checkout, or ``unknown``."""
    try:
        # No optional locks: reading the state must not take the index lock from others.
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"),
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (TypeError, KeyError):
        return "unknown"


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


def main(opts: argparse.Namespace) -> None:
    torch.set_num_threads(opts.threads)
    b = Bench(opts, torch.device(opts.device), Workers(opts.threads))
    out = Path(opts.out)
    start = time.perf_counter()
    try:
        ps = [p for p in PHASE_PS for _ in range(opts.trials)]
        w64 = draw(opts.n, opts.rank, ps, seed=0)
        report = {
            "machine": {
                "cpu_model": cpu_model(),
                "cores_available": len(os.sched_getaffinity(0)),
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpu_count": os.cpu_count(),
                "python": f"Python {platform.python_version()}",
                "numpy_blas": numpy_blas(),
                "numpy_blas_threads_settable": numpy_blas_controllable(),
                "commit": git_commit(),
                "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "command": " ".join(["benchmarks/bench_rpca.py", *sys.argv[1:]]),
                "threads": opts.threads,
                "process_loop_workers": len(b.workers.conns),
                "worker_blas_env": b.workers.blas_env,
                "device": str(b.device),
                "torch": torch.__version__,
                "numpy": np.__version__,
            },
            "workload": {
                "n": opts.n,
                "rank": opts.rank,
                "ps": PHASE_PS,
                "trials_per_p": opts.trials,
                "batch": len(ps),
                "dop_steps_timed": opts.steps,
                "apg_iterations_timed": opts.apg_iters,
                "numpy_loop_trials": min(opts.loop_trials, len(ps)),
                "repeats": opts.repeats,
            },
            "results": {},
        }
        print(
            f"workload: n={opts.n}, rank {opts.rank}, {len(PHASE_PS)} values of p x {opts.trials} trials = "
            f"{len(ps)} problems; {opts.threads} thread(s), {b.device}; {len(b.workers.conns)} one-thread processes"
        )
        dtypes = [] if opts.skip_row else ["float64", "float32"] if opts.dtype == "both" else [opts.dtype]
        for name in dtypes:
            res = report["results"][name] = measure_row(b, cast(w64, name))
            report["workload"]["process_loop_problems"] = b.workers.sizes
            print_row(name, res, b)
        if len(dtypes) == 2:
            r64, r32 = report["results"]["float64"], report["results"]["float32"]
            cross = r32["dop"]["trial_steps_per_s"] / r64["dop"]["numpy_loop_trial_steps_per_s"]
            report["dop_float32_vs_numpy_loop_float64"] = cross
            print(f"[mixed] DOP in float32 vs the NumPy loop in float64 (NumPy's default): {cross:.2f}x")
        write(report, out)
        if not opts.skip_scaling:
            scaling(b, report, out)
        report["machine"]["wall_s"] = time.perf_counter() - start
        write(report, out)
    finally:
        b.workers.close()
    print(f"wrote {out}")
    if opts.markdown or opts.figure:
        from plot_bench import publish

        for path in publish(report, opts.markdown, opts.figure):
            print(f"wrote {path}")


if __name__ == "__main__":
    main(OPTS)
