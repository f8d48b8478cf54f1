"""Throughput of the robust-PCA engines on the phase-transition workload.

In one process on one machine, measures

* DOP (``implicit_bias.rpca.dop_descent``) in trial-steps per second on one row of the
  phase grid (all corruption levels x trials of one rank as one batch), against
  (a) a per-trial NumPy loop of the same iteration and (b) the roofline of the machine's
  own batched n x n matrix products (each DOP step costs two of them);
* APG (``implicit_bias.apg.apg_rpca``) in trial-iterations per second on the same problems,
  against a per-trial NumPy loop of the same iteration (full SVD per step).

Prints the ratios and writes them as JSON::

    python benchmarks/bench_rpca.py [OUT.json] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("out", nargs="?", default="benchmarks/out/rpca.json", help="JSON output path")
ARGS.add_argument("--threads", type=int, default=1, help="threads for torch and for NumPy's BLAS")
ARGS.add_argument("--device", default="cpu", help="torch device of the batched engines")
ARGS.add_argument("--dtype", default="float64", choices=["float32", "float64"])
ARGS.add_argument("--n", type=int, default=50)
ARGS.add_argument("--rank", type=int, default=10)
ARGS.add_argument("--trials", type=int, default=10, help="trials per p (paper: 10)")
ARGS.add_argument("--steps", type=int, default=300, help="DOP steps timed")
ARGS.add_argument("--apg-iters", type=int, default=60, help="APG iterations timed")
ARGS.add_argument("--loop-trials", type=int, default=8, help="trials the NumPy loops run")
ARGS.add_argument("--repeats", type=int, default=3, help="best of this many timings")
opts = ARGS.parse_args()

# BLAS thread counts are read when NumPy and torch load; both sides get the same number.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(opts.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from implicit_bias.apg import apg_rpca  # noqa: E402
from implicit_bias.rpca import dop_descent, rpca_problem  # noqa: E402

torch.set_num_threads(opts.threads)
DEVICE = torch.device(opts.device)
DTYPE = getattr(torch, opts.dtype)
NP_DTYPE = np.float32 if opts.dtype == "float32" else np.float64


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeats=opts.repeats):
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


# The workload: one row of the paper's phase grid.
n, lr, alpha = opts.n, 1e-4, float(np.sqrt(opts.n))
ps = [round(0.02 * k, 2) for k in range(1, 26)]
rng = np.random.default_rng(0)
Ys = np.stack([rpca_problem(n, opts.rank, p, rng).Y for p in ps for _ in range(opts.trials)])
Ys = Ys.astype(NP_DTYPE)
B = len(Ys)
U0 = (1e-4 * rng.standard_normal((B, n, n))).astype(NP_DTYPE)
g0 = (1e-4 * rng.standard_normal((B, n, n))).astype(NP_DTYPE)
to = dict(device=DEVICE, dtype=DTYPE)
Y_t, U_t, g_t = (torch.from_numpy(a).to(**to) for a in (Ys, U0, g0))

# --- DOP -------------------------------------------------------------------------------
steps = opts.steps
dop_descent(Y_t, U_t, g_t, g_t.clone(), alpha, lr, 5, record_every=5)  # warm-up
t_dop = best_time(lambda: dop_descent(Y_t, U_t, g_t, g_t.clone(), alpha, lr, steps,
                                      record_every=steps))
dop_rate = B * steps / t_dop


def numpy_dop(Y, U, g, h, steps):
    """The same iteration for one trial, written plainly in NumPy."""
    a = alpha * lr
    for _ in range(steps + 1):
        R = U @ U.T + g * g - h * h - Y
        U = U - 0.5 * lr * ((R + R.T) @ U)
        g = g - a * R * g
        h = h + a * R * h
    return U @ U.T, g * g - h * h


m = min(opts.loop_trials, B)
t_np = best_time(lambda: [numpy_dop(Ys[i], U0[i], g0[i], g0[i].copy(), steps) for i in range(m)])
np_dop_rate = m * steps / t_np

A = torch.randn(B, n, n, **to)
C = torch.empty_like(A)
reps = max(10, steps // 2)


def matmuls():
    for _ in range(reps):
        torch.bmm(A, A, out=C)


matmuls()
t_mm = best_time(matmuls)
mm_rate = B * reps / t_mm  # n x n x n products per second
roofline = mm_rate / 2  # trial-steps per second if a step cost only its two products

# --- APG -------------------------------------------------------------------------------
iters = opts.apg_iters
lam = 1 / np.sqrt(n)
# tol = 0: every problem runs exactly `iters` iterations on both sides.
apg_rpca(Y_t[:2], lam, tol=0.0, max_iter=3)
t_apg = best_time(lambda: apg_rpca(Y_t, lam, tol=0.0, max_iter=iters))
apg_rate = B * iters / t_apg
t_apg_svd = best_time(lambda: apg_rpca(Y_t, lam, tol=0.0, max_iter=iters, svt="svd"))
apg_svd_rate = B * iters / t_apg_svd


def numpy_apg(Y, iters):
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


t_np_apg = best_time(lambda: [numpy_apg(Ys[i], iters) for i in range(m)])
np_apg_rate = m * iters / t_np_apg

report = {
    "machine": {"platform": platform.platform(), "processor": platform.processor(),
                "cpu_count": os.cpu_count(), "threads": opts.threads, "device": str(DEVICE),
                "dtype": opts.dtype, "torch": torch.__version__, "numpy": np.__version__},
    "workload": {"n": n, "rank": opts.rank, "ps": ps, "trials_per_p": opts.trials, "batch": B,
                 "dop_steps_timed": steps, "apg_iterations_timed": iters,
                 "numpy_loop_trials": m},
    "dop": {"trial_steps_per_s": dop_rate, "numpy_loop_trial_steps_per_s": np_dop_rate,
            "speedup_vs_numpy_loop": dop_rate / np_dop_rate,
            "batched_matmuls_per_s": mm_rate, "roofline_trial_steps_per_s": roofline,
            "fraction_of_roofline": dop_rate / roofline,
            "numpy_loop_fraction_of_roofline": np_dop_rate / roofline},
    "apg": {"trial_iterations_per_s": apg_rate, "svd_variant_trial_iterations_per_s": apg_svd_rate,
            "numpy_loop_trial_iterations_per_s": np_apg_rate,
            "speedup_vs_numpy_loop": apg_rate / np_apg_rate,
            "svd_variant_speedup_vs_numpy_loop": apg_svd_rate / np_apg_rate},
}
out = Path(opts.out)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(report, indent=2))
d, a = report["dop"], report["apg"]
print(f"workload: n={n}, rank {opts.rank}, {len(ps)} values of p x {opts.trials} trials = {B} "
      f"problems; {opts.threads} thread(s), {DEVICE}, {opts.dtype}")
print(f"DOP  batched    {d['trial_steps_per_s']:12.0f} trial-steps/s")
print(f"DOP  NumPy loop {d['numpy_loop_trial_steps_per_s']:12.0f} trial-steps/s"
      f"   speedup {d['speedup_vs_numpy_loop']:.2f}x")
print(f"DOP  roofline   {d['roofline_trial_steps_per_s']:12.0f} trial-steps/s"
      f"   (2 batched {n}x{n} products per step) reached {d['fraction_of_roofline']:.0%}"
      f" (NumPy loop {d['numpy_loop_fraction_of_roofline']:.0%})")
print(f"APG  batched    {a['trial_iterations_per_s']:12.0f} trial-iterations/s"
      f"   speedup {a['speedup_vs_numpy_loop']:.2f}x over the NumPy loop")
print(f"APG  batched, full SVD {a['svd_variant_trial_iterations_per_s']:5.0f} trial-iterations/s"
      f"   speedup {a['svd_variant_speedup_vs_numpy_loop']:.2f}x")
print(f"APG  NumPy loop {a['numpy_loop_trial_iterations_per_s']:12.0f} trial-iterations/s")
print(f"wrote {out}")
