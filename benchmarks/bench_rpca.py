"""Throughput of the robust-PCA engines on the phase-transition workload.

In one process on one machine, for each floating-point type asked for, measures

* DOP (``implicit_bias.rpca.dop_descent``) in trial-steps per second on one row of the
  phase grid (all corruption levels x trials of one rank as one batch), against
  (a) a per-trial NumPy loop of the same iteration, in the same type, and
  (b) the roofline: the machine's own batched n x n matrix-product rate (each DOP step
  costs two products), the best of whole-batch ``torch.bmm`` on all threads and of the
  engine's own chunked, one-thread-per-chunk layout;
* APG (``implicit_bias.apg.apg_rpca``) in trial-iterations per second on the same
  problems, against a per-trial NumPy loop of the same iteration (full SVD per step).

Timings are interleaved (engine, loop, roofline, engine, ...) and the best of ``--repeats``
is kept, so a burst of load on a shared machine hits every side alike. Prints the ratios,
the targets (DOP >= 5x, APG >= 3x its loop) and writes everything as JSON::

    python benchmarks/bench_rpca.py [OUT.json] [--threads N] [--dtype both] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("out", nargs="?", default="benchmarks/out/rpca.json", help="JSON output path")
ARGS.add_argument(
    "--threads",
    type=int,
    default=len(os.sched_getaffinity(0)),
    help="threads for torch and for NumPy's BLAS (default: every CPU this process may use)",
)
ARGS.add_argument("--device", default="cpu", help="torch device of the batched engines")
ARGS.add_argument("--dtype", default="both", choices=["float32", "float64", "both"])
ARGS.add_argument("--n", type=int, default=50)
ARGS.add_argument("--rank", type=int, default=10)
ARGS.add_argument("--trials", type=int, default=10, help="trials per p (paper: 10)")
ARGS.add_argument("--steps", type=int, default=200, help="DOP steps timed")
ARGS.add_argument("--apg-iters", type=int, default=40, help="APG iterations timed")
ARGS.add_argument("--loop-trials", type=int, default=6, help="trials the NumPy loops run")
ARGS.add_argument("--repeats", type=int, default=5, help="best of this many interleaved timings")
ARGS.add_argument(
    "--loops-only",
    action="store_true",
    help="time only the NumPy loops and print their rates as JSON (used internally)",
)
opts = ARGS.parse_args()
if opts.threads < 1 or opts.repeats < 1 or opts.steps < 1 or opts.apg_iters < 1:
    ARGS.error("--threads, --repeats, --steps and --apg-iters must be >= 1")

# BLAS thread counts are read when NumPy and torch load; both sides get the same number.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(opts.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from implicit_bias.apg import apg_rpca  # noqa: E402
from implicit_bias.batching import batch_chunk, chunk_slices, map_chunks  # noqa: E402
from implicit_bias.rpca import dop_descent, rpca_problem  # noqa: E402

torch.set_num_threads(opts.threads)
DEVICE = torch.device(opts.device)
TARGET_DOP, TARGET_APG = 5.0, 3.0


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timed(fn):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def best_rates(work: dict) -> dict:
    """``{name: (fn, units)}`` -> ``{name: best units per second}``, timings interleaved."""
    for fn, _ in work.values():  # warm-up
        fn()
    best = {k: 0.0 for k in work}
    for _ in range(opts.repeats):
        for k, (fn, units) in work.items():
            best[k] = max(best[k], units / timed(fn))
    return best


# The workload: one row of the paper's phase grid, drawn once in float64.
n, lr, alpha = opts.n, 1e-4, float(np.sqrt(opts.n))
ps = [round(0.02 * k, 2) for k in range(1, 26)]
rng = np.random.default_rng(0)
Y64 = np.stack([rpca_problem(n, opts.rank, p, rng).Y for p in ps for _ in range(opts.trials)])
B = len(Y64)
U64 = 1e-4 * rng.standard_normal((B, n, n))
G64 = 1e-4 * rng.standard_normal((B, n, n))
m = min(opts.loop_trials, B)


def numpy_dop(Y, U, g, h, steps):
    """The same iteration for one trial, written plainly in NumPy."""
    a = alpha * lr
    for _ in range(steps + 1):
        R = U @ U.T + g * g - h * h - Y
        U = U - 0.5 * lr * ((R + R.T) @ U)
        g = g - a * R * g
        h = h + a * R * h
    return U @ U.T, g * g - h * h


def numpy_apg(Y, iters, lam):
    """Lin et al.'s APG with continuation for one problem, plainly in NumPy (full SVD)."""
    mu = np.linalg.norm(Y, 2)
    mu_bar = 1e-9 * mu
    X = Xp = S = Sp = np.zeros_like(Y)
    t = tp = 1.0
    for _ in range(iters):
        w = (tp - 1) / t
        YX, YS = X + w * (X - Xp), S + w * (S - Sp)
        G = (YX + YS - Y) / 2
        u, s, vh = np.linalg.svd(YX - G, full_matrices=False)
        Xn = (u * np.maximum(s - mu / 2, 0)) @ vh
        GS = YS - G
        Sn = np.sign(GS) * np.maximum(np.abs(GS) - lam * mu / 2, 0)
        tp, t = t, (1 + np.sqrt(1 + 4 * t * t)) / 2
        T = Xn + Sn - YX - YS
        crit = np.sqrt(np.sum((2 * (YX - Xn) + T) ** 2) + np.sum((2 * (YS - Sn) + T) ** 2))
        crit /= 2 * max(1.0, np.sqrt(np.sum(Xn**2) + np.sum(Sn**2)))
        mu = max(0.9 * mu, mu_bar)
        Xp, X, Sp, S = X, Xn, S, Sn
    return X, S


def workload(dtype_name: str):
    """The problems, initial factors and initial g in ``dtype_name`` (NumPy arrays)."""
    return tuple(a.astype(getattr(np, dtype_name)) for a in (Y64, U64, G64))


def loop_work(dtype_name: str) -> dict:
    """The two per-trial NumPy loops, as :func:`best_rates` work items."""
    Ys, U0, g0 = workload(dtype_name)
    steps, iters, lam = opts.steps, opts.apg_iters, 1 / np.sqrt(n)
    return {
        "dop_loop": (lambda: [numpy_dop(Ys[i], U0[i], g0[i], g0[i].copy(), steps) for i in range(m)], m * steps),
        "apg_loop": (lambda: [numpy_apg(Ys[i], iters, lam) for i in range(m)], m * iters),
    }


def single_thread_loops() -> dict:
    """The loops' rates with one BLAS thread, timed in a child process (BLAS reads its
    thread count at start-up): ``{dtype: {"dop_loop": rate, "apg_loop": rate}}``."""
    cmd = [
        sys.executable,
        __file__,
        "--loops-only",
        "--threads",
        "1",
        "--dtype",
        opts.dtype,
        "--n",
        str(opts.n),
        "--rank",
        str(opts.rank),
        "--trials",
        str(opts.trials),
        "--steps",
        str(opts.steps),
        "--apg-iters",
        str(opts.apg_iters),
        "--loop-trials",
        str(opts.loop_trials),
        "--repeats",
        str(opts.repeats),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(dtype_name: str) -> dict:
    dtype = getattr(torch, dtype_name)
    to = dict(device=DEVICE, dtype=dtype)
    Y_t, U_t, g_t = (torch.from_numpy(a).to(**to) for a in workload(dtype_name))
    steps, iters, lam = opts.steps, opts.apg_iters, 1 / np.sqrt(n)

    # Roofline: batched n x n x n products, whole batch on all threads or in the engine's
    # chunks with one thread per chunk; the faster of the two.
    A = torch.randn(B, n, n, **to)
    C = torch.empty_like(A)
    reps = max(10, steps // 2)
    slices = chunk_slices(B, batch_chunk(n * n, dtype, DEVICE, B))

    def bmm_whole():
        for _ in range(reps):
            torch.bmm(A, A, out=C)

    def bmm_chunks():
        def one(c):
            for _ in range(reps):
                torch.bmm(A[c], A[c], out=C[c])

        map_chunks(one, slices, DEVICE)

    loops = loop_work(dtype_name)
    r = best_rates(
        {
            "dop": (
                lambda: dop_descent(Y_t, U_t, g_t, g_t.clone(), alpha, lr, steps=steps, record_every=steps),
                B * steps,
            ),
            "dop_loop": loops["dop_loop"],
            "bmm_whole": (bmm_whole, B * reps),
            "bmm_chunks": (bmm_chunks, B * reps),
            # tol = 0: every problem runs exactly `iters` iterations on both sides.
            "apg": (lambda: apg_rpca(Y_t, lam, tol=0.0, max_iter=iters), B * iters),
            "apg_svd": (lambda: apg_rpca(Y_t, lam, tol=0.0, max_iter=iters, svt="svd"), B * iters),
            "apg_loop": loops["apg_loop"],
        }
    )
    mm_rate = max(r["bmm_whole"], r["bmm_chunks"])  # n x n x n products per second
    roofline = mm_rate / 2  # trial-steps per second if a step cost only its two products
    return {
        "dop": {
            "trial_steps_per_s": r["dop"],
            "numpy_loop_trial_steps_per_s": r["dop_loop"],
            "speedup_vs_numpy_loop": r["dop"] / r["dop_loop"],
            "batched_matmuls_per_s": {"whole_batch": r["bmm_whole"], "chunked": r["bmm_chunks"]},
            "roofline_trial_steps_per_s": roofline,
            "fraction_of_roofline": r["dop"] / roofline,
            "numpy_loop_fraction_of_roofline": r["dop_loop"] / roofline,
            "roofline_over_numpy_loop": roofline / r["dop_loop"],
            "target_speedup": TARGET_DOP,
            "meets_target": r["dop"] / r["dop_loop"] >= TARGET_DOP,
        },
        "apg": {
            "trial_iterations_per_s": r["apg"],
            "svd_variant_trial_iterations_per_s": r["apg_svd"],
            "numpy_loop_trial_iterations_per_s": r["apg_loop"],
            "speedup_vs_numpy_loop": r["apg"] / r["apg_loop"],
            "svd_variant_speedup_vs_numpy_loop": r["apg_svd"] / r["apg_loop"],
            "target_speedup": TARGET_APG,
            "meets_target": r["apg"] / r["apg_loop"] >= TARGET_APG,
        },
    }


dtypes = ["float64", "float32"] if opts.dtype == "both" else [opts.dtype]
if opts.loops_only:
    print(json.dumps({name: best_rates(loop_work(name)) for name in dtypes}))
    sys.exit(0)
report = {
    "machine": {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": opts.threads,
        "device": str(DEVICE),
        "torch": torch.__version__,
        "numpy": np.__version__,
    },
    "workload": {
        "n": n,
        "rank": opts.rank,
        "ps": ps,
        "trials_per_p": opts.trials,
        "batch": B,
        "dop_steps_timed": opts.steps,
        "apg_iterations_timed": opts.apg_iters,
        "numpy_loop_trials": m,
        "repeats": opts.repeats,
    },
    "results": {},
}
print(
    f"workload: n={n}, rank {opts.rank}, {len(ps)} values of p x {opts.trials} trials = {B} "
    f"problems; {opts.threads} thread(s), {DEVICE}"
)
for name in dtypes:
    res = report["results"][name] = measure(name)
    d, a = res["dop"], res["apg"]
    ok = {True: "meets", False: "below"}
    print(f"[{name}] both sides in {name}")
    print(
        f"  DOP  batched    {d['trial_steps_per_s']:10.0f} trial-steps/s   "
        f"{d['speedup_vs_numpy_loop']:.2f}x the NumPy loop "
        f"({ok[d['meets_target']]} the {TARGET_DOP:g}x target)"
    )
    print(f"  DOP  NumPy loop {d['numpy_loop_trial_steps_per_s']:10.0f} trial-steps/s")
    print(
        f"  DOP  roofline   {d['roofline_trial_steps_per_s']:10.0f} trial-steps/s   "
        f"(two batched {n}x{n} products per step): DOP reaches {d['fraction_of_roofline']:.0%}, "
        f"the loop {d['numpy_loop_fraction_of_roofline']:.0%}; no engine bound by these "
        f"products beats the loop by more than {d['roofline_over_numpy_loop']:.2f}x"
    )
    print(
        f"  APG  batched    {a['trial_iterations_per_s']:10.0f} trial-iterations/s   "
        f"{a['speedup_vs_numpy_loop']:.2f}x the NumPy loop "
        f"({ok[a['meets_target']]} the {TARGET_APG:g}x target)"
    )
    print(
        f"  APG  batched, full SVD {a['svd_variant_trial_iterations_per_s']:5.0f} trial-iterations/s   "
        f"{a['svd_variant_speedup_vs_numpy_loop']:.2f}x"
    )
    print(f"  APG  NumPy loop {a['numpy_loop_trial_iterations_per_s']:10.0f} trial-iterations/s")
if opts.threads > 1 and DEVICE.type == "cpu":
    # A fair baseline runs as fast as it can: OpenBLAS may thread a 50 x 50 product at a
    # loss, so the loops are also timed with one BLAS thread, and the faster one counts too.
    single = single_thread_loops()
    print("[baseline] the NumPy loops again with 1 BLAS thread (child process):")
    for name in dtypes:
        for engine, unit in (("dop", "trial_steps"), ("apg", "trial_iterations")):
            part = report["results"][name][engine]
            rate = single[name][f"{engine}_loop"]
            part["numpy_loop_1_blas_thread_rate"] = rate
            part["speedup_vs_fastest_numpy_loop"] = part[f"{unit}_per_s"] / max(rate, part[f"numpy_loop_{unit}_per_s"])
            print(
                f"  [{name}] {engine.upper()} loop {rate:10.0f} {unit.replace('_', '-')}/s; "
                f"engine vs the faster loop: {part['speedup_vs_fastest_numpy_loop']:.2f}x"
            )
if len(dtypes) == 2:
    r64, r32 = report["results"]["float64"], report["results"]["float32"]
    cross = r32["dop"]["trial_steps_per_s"] / r64["dop"]["numpy_loop_trial_steps_per_s"]
    report["dop_float32_vs_numpy_loop_float64"] = cross
    print(f"[mixed] DOP in float32 vs the NumPy loop in float64 (NumPy's default): {cross:.2f}x")
out = Path(opts.out)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(report, indent=2))
print(f"wrote {out}")
