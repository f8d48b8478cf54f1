"""The GPU kit: what the project needs to know from the first GPU it gets, in one command.

Within a time budget (default 420 s, so that it ends within 8 minutes on one H100), in this
order, with the suite's own problems, engines and settings:

1. ``phase``: the DOP phase-transition grid at paper size (sweep ``rpca_phase``: ranks
   1..25, p = 0.02..0.50, 10 trials, 20,000 steps, n = 50), the problems of
   :func:`implicit_bias.rpca_runs.planted_batch` under the workflow's seeds, run by
   :func:`implicit_bias.rpca.dop_descent` one grid row per call (as a workflow job does),
   in float32 and float64. A probe of a few hundred steps on the first row sizes the rest;
   rows run while their estimated time fits the part's share, and the grid's wall time is
   measured if every row ran, else extrapolated (and labelled so). For every problem that
   ran in both types it records whether the success verdicts (relative error of X below
   0.1, not diverged) agree, and lists the disagreements with their errors.
2. ``images``: image training at paper size (F16, full 512 x 512, width 128, DOP at the
   gallery's settings): steps per second with the speed settings (bfloat16 autocast,
   channels-last, cuDNN autotuning) against plain float32, and the PSNR each reaches at the
   same step (``benchmarks/bench_images.py``'s :func:`timed_run`). A short probe of both
   sizes the main pair of runs to the part's share.
3. ``dop``: the gallery's F16 DOP run at p = 0.5 (the same run as the workflow's: its
   seed, corruption and settings, ``kind_defaults("image_gallery")``), for as many steps as
   fit, by :func:`implicit_bias.image_recovery.recover_image` in chunks of at most
   ``--dop-chunk-s`` seconds, each ending in a checkpoint in the output folder; a later
   invocation (a later GPU window) finds it there and continues the run. It reports the
   steps done so far, the PSNR curve, steps per second and a projection of the time the
   whole run takes.

Each part gets a share of the budget left when it starts (``--shares``, over the parts
that run; time a part leaves unused goes to the later ones); the budget counts from the
process's start, and the parts size their work from measured rates, with a margin. Everything
is written under one folder, ``docs/gpu/<device>/`` by default (``<device>``: a slug of the
CUDA device's name, or ``cpu``; ``docs/gpu/<device>-dry-run/`` with ``--image-source
skimage``, so that a dry run's checkpoint never stands in the way of the real one), at most
7 files, each well under 16 MiB:

* ``results.json``: every number, with the commit, device, torch, CUDA and cuDNN versions;
* ``summary.md``: the numbers in short, projections and extrapolations labelled so;
* ``phase_problems.csv``: per problem of the grid that ran, both types' errors and verdicts;
* ``dop_checkpoint.pt``, ``dop_checkpoint_gh.pt``, ``dop_final.png``, ``dop_best.png``:
  the DOP run's compact checkpoint (below) and its last and best recorded outputs.

The suite's checkpoint of a paper-size DOP run is about 65 MiB (network 8.5, network
input 32, ``g`` and ``h`` 6, the last and best recorded images as float64 18: pickled NumPy
arrays take about 1.5 times their bytes). The kit
keeps the suite's file in a temporary folder and stores in the output folder only what
resumption needs beyond what can be recomputed: the network, the generator state, the
step, the fingerprint and the scalar history (about 8.5 MiB) in ``dop_checkpoint.pt``;
``g`` and ``h`` (6 MiB) in ``dop_checkpoint_gh.pt``; the history images as 8-bit PNGs. The
network input is drawn again from the run's seed (and checked against the SHA-256 of the
saved one) when the suite's file is rebuilt for a resumption, so training resumes
exactly; only the stored last/best images are 8-bit (they never feed the training).
Parts left out of a run (``--parts``) keep the numbers of the previous run in
``results.json``, marked as carried over.

It needs only PyTorch, NumPy, SciPy, pandas, scikit-image, tqdm and PyYAML, and runs from
the source tree without an install. On a GPU machine, from the repository root::

    PYTHONPATH=src python benchmarks/gpu_kit.py --images data/images

A dry run without the paper's images (a scikit-image picture instead of F16)::

    PYTHONPATH=src python benchmarks/gpu_kit.py --image-source skimage --image astronaut

Only the DOP run, continuing it in a later window (on another kind of GPU, name the
first one's folder with ``--out``; each chunk records the device it ran on)::

    PYTHONPATH=src python benchmarks/gpu_kit.py --images data/images --parts dop

A checkpoint of another run (other image, p, width or settings) or device type is left
alone and the part reports why; ``--dop-fresh`` replaces it.

The test (``tests/test_gpu_kit.py``) runs it on a CPU at a tiny size; the ``--phase-*``,
``--image-*``, ``--dop-*`` and ``--width`` options shrink the workload, and the results
then say that they are not at paper size.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import skimage.io
import skimage.util
import torch
from bench_images import timed_run

from implicit_bias.config import kind_defaults
from implicit_bias.devices import DTYPES, resolve_device
from implicit_bias.experiments import Context
from implicit_bias.experiments.images import PAPER_F16_PSNR
from implicit_bias.grids import param_key
from implicit_bias.image_data import PAPER_IMAGES, load_image, salt_and_pepper, save_png, sha256sum
from implicit_bias.image_recovery import RecoveryConfig, initial_state, recover_image
from implicit_bias.rpca import dop_descent, learning_rate_ratio, relative_error
from implicit_bias.rpca_runs import dop_init, planted_batch
from implicit_bias.seeding import trial_rngs, trial_seed

REPO = Path(__file__).resolve().parents[1]
PARTS = ("phase", "images", "dop")
#: Packages the GPU path must not need (the workflow's, the convex solvers', validation's).
FORBIDDEN = ("cvxpy", "snakemake", "jsonschema")
#: Bumped when the layout of the kit's checkpoint files changes.
KIT_CHECKPOINT_FORMAT = 1
CKPT, CKPT_GH, FINAL_PNG, BEST_PNG = "dop_checkpoint.pt", "dop_checkpoint_gh.pt", "dop_final.png", "dop_best.png"
RESULTS, SUMMARY, PHASE_CSV = "results.json", "summary.md", "phase_problems.csv"
#: Seconds kept back from the budget for writing the results at the end.
RESERVE_S = 10.0
#: Planned work is sized to this fraction of the time it may take (estimates err).
SAFETY = 0.85


# ---------------------------------------------------------------------------------------
# Time, device, files
# ---------------------------------------------------------------------------------------


def process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``), so the budget counts imports
    and CUDA start-up too; 0 where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - int(fields[19]) / ticks)
    except (OSError, ValueError, IndexError):
        return 0.0


class Clock:
    """The kit's time budget: what is left, and each part's share of it."""

    def __init__(self, budget_s: float, weights: dict[str, float]):
        self.budget_s = float(budget_s)
        self.weights = dict(weights)
        self.t0 = time.perf_counter() - process_age_s()

    def used(self) -> float:
        return time.perf_counter() - self.t0

    def share(self, part: str) -> float:
        """Seconds for ``part``: the time left (less the reserve), split by the weights of
        this part and those after it."""
        names = list(self.weights)
        later = names[names.index(part) :]
        left = self.budget_s - RESERVE_S - self.used()
        return max(0.0, left * self.weights[part] / sum(self.weights[n] for n in later))


def synchronize(device: torch.device) -> None:
    """Wait for the device, so that a timer read after it sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_slug(device: torch.device) -> str:
    """The default folder name of a device: its CUDA name in lower case with dashes, or ``cpu``."""
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def device_info(device: torch.device) -> dict:
    """What ran the kit: device, its memory, and the versions of torch, CUDA and cuDNN."""
    info = {
        "device": str(device),
        "name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "slug": device_slug(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
        "host_cpus": os.cpu_count(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["memory_gib"] = props.total_memory / 2**30
        info["capability"] = f"{props.major}.{props.minor}"
    return info


def git_commit() -> str:
    """``git describe --always --dirty`` of the repository, or ``unknown``."""
    try:
        # No optional locks: reading the state must not take the index lock from others.
        env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, timeout=30, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def jsonable(value):
    """``value`` with NumPy scalars and arrays made plain, and non-finite floats None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


# ---------------------------------------------------------------------------------------
# Part 1: the DOP phase grid
# ---------------------------------------------------------------------------------------


@dataclass
class RowRun:
    """One :func:`dop_descent` call on the problems of some grid rows, in one type.

    :ivar problems: ``(rank, p, trial, seed)`` of each batch element.
    :ivar engine_s: wall time of the call (synchronised), with the error computation.
    :ivar setup_s: drawing the problems and the initialization (NumPy, on the host).
    """

    ranks: list[int]
    problems: list[tuple[int, float, int, int]]
    rel_err_X: np.ndarray
    diverged: np.ndarray
    steps: int
    engine_s: float
    setup_s: float


def phase_settings(args: argparse.Namespace) -> dict:
    """The ``rpca_phase`` sweep's settings (the schema's defaults, the paper's), with the
    command line's overrides of its budget."""
    s = kind_defaults("rpca_phase")
    overrides = {
        "n": args.phase_n,
        "steps": args.phase_steps,
        "trials": args.phase_trials,
        "ranks": args.phase_ranks,
        "ps": args.phase_ps,
    }
    s.update({k: v for k, v in overrides.items() if v is not None})
    return s


def run_rows(ctx: Context, s: dict, ranks: list[int], steps: int) -> RowRun:
    """Every (p, trial) problem of the rows ``ranks`` in one batch, as ``rpca_phase``'s
    :func:`run_row` builds and runs a row (per-trial data, so batching changes nothing)."""
    t0 = time.perf_counter()
    trials = list(range(s["trials"]))
    Xs, Ss, init_rngs, problems = [], [], [], []
    for rank in ranks:
        for p in s["ps"]:
            X, S, seeds, rngs = planted_batch(ctx, s, trials, rank=rank, p=p)
            Xs.append(X)
            Ss.append(S)
            init_rngs += rngs
            problems += [(rank, float(p), t, seed) for t, seed in zip(trials, seeds, strict=True)]
    X, S = torch.cat(Xs), torch.cat(Ss)
    Y = X + S
    U0, g0, h0 = dop_init(init_rngs, s["n"], s["init_scale"], X)
    synchronize(ctx.device)
    t1 = time.perf_counter()
    alpha = learning_rate_ratio(s["alpha"], s["n"])
    res = dop_descent(Y, U0, g0, h0, alpha, s["lr"], steps=steps, record_every=steps)
    err = relative_error(res.X, X).cpu().numpy()
    diverged = res.diverged.cpu().numpy()
    t2 = time.perf_counter()
    return RowRun(list(ranks), problems, err, diverged, steps, t2 - t1, t1 - t0)


def _grid_estimate(runs: list[RowRun], probe: RowRun, steps: int, total_rows: int) -> tuple[float, str]:
    """The whole grid's engine time in one type: measured, or extrapolated (labelled)."""
    rows = sum(len(r.ranks) for r in runs)
    if rows == total_rows:
        return sum(r.engine_s for r in runs), f"measured: all {total_rows} rows ran"
    if rows:
        per_row = sum(r.engine_s for r in runs) / rows
        return per_row * total_rows, f"extrapolation from {rows} of {total_rows} rows that ran in full"
    per_row = probe.engine_s * steps / probe.steps / len(probe.ranks)
    return per_row * total_rows, (
        f"extrapolation from a {probe.steps}-step probe of {len(probe.ranks)} row(s) "
        f"(no row ran its {steps} steps within the share)"
    )


def _dtype_summary(s: dict, runs: list[RowRun], probe: RowRun, total_rows: int) -> dict:
    grid_s, basis = _grid_estimate(runs, probe, s["steps"], total_rows)
    problems = sum(len(r.problems) for r in runs)
    engine_s = sum(r.engine_s for r in runs)
    ok = np.concatenate([_verdicts(s, r) for r in runs]) if runs else np.zeros(0, bool)
    return {
        "rows_run": sum(len(r.ranks) for r in runs),
        "problems_run": problems,
        "engine_s_measured": engine_s,
        "calls": [{"ranks": r.ranks, "engine_s": r.engine_s, "setup_s": r.setup_s} for r in runs],
        "setup_s_measured": sum(r.setup_s for r in runs),
        "problem_steps_per_s": problems * s["steps"] / engine_s if engine_s > 0 else None,
        "grid_wall_s": grid_s,
        "grid_wall_basis": basis,
        "grid_wall_is_extrapolation": not basis.startswith("measured"),
        "probe": {
            "steps": probe.steps,
            "rows": len(probe.ranks),
            "problems": len(probe.problems),
            "engine_s": probe.engine_s,
            "problem_steps_per_s": len(probe.problems) * probe.steps / probe.engine_s,
        },
        "success_fraction": float(ok.mean()) if ok.size else None,
        "diverged": int(sum(int(r.diverged.sum()) for r in runs)),
    }


def _verdicts(s: dict, run: RowRun) -> np.ndarray:
    """The workflow's success verdict of each problem: error below the threshold, not diverged."""
    return (run.rel_err_X < s["success_threshold"]) & ~run.diverged


def _agreement(s: dict, runs: dict[str, list[RowRun]]) -> tuple[dict, list[dict]]:
    """Whether float32 and float64 agree on each problem that ran in both; per-problem rows."""
    a, b = runs["float32"], runs["float64"]
    rows, disagree = [], []
    for ra, rb in zip(a, b, strict=False):
        va, vb = _verdicts(s, ra), _verdicts(s, rb)
        for i, (rank, p, trial, seed) in enumerate(ra.problems):
            row = {"rank": rank, "p": p, "trial": trial, "seed": seed}
            for name, run, verdict in (("float32", ra, va), ("float64", rb, vb)):
                row[f"rel_err_X_{name}"] = float(run.rel_err_X[i])
                row[f"diverged_{name}"] = bool(run.diverged[i])
                row[f"success_{name}"] = bool(verdict[i])
            rows.append(row)
            if va[i] != vb[i]:
                disagree.append(row)
    summary = {
        "problems_in_both": len(rows),
        "verdicts_agree": len(rows) - len(disagree),
        "verdicts_disagree": len(disagree),
        "max_abs_rel_err_difference": max(
            (abs(r["rel_err_X_float32"] - r["rel_err_X_float64"]) for r in rows), default=None
        ),
        "disagreements": disagree,
    }
    return summary, rows


def phase_part(args: argparse.Namespace, device: torch.device, share_s: float) -> tuple[dict, list[dict]]:
    """Part 1; returns its results and the per-problem rows."""
    start = time.perf_counter()
    s = phase_settings(args)
    ranks = [int(r) for r in s["ranks"]]
    total_rows = len(ranks)
    limit = total_rows if args.phase_max_rows is None else max(1, min(total_rows, args.phase_max_rows))
    per_call = max(1, args.phase_rows_per_call)
    groups = [ranks[i : min(i + per_call, limit)] for i in range(0, limit, per_call)]
    ctxs = {
        name: Context(
            sweep="rpca_phase", settings=s, seed=args.seed, device=device, dtype=DTYPES[name], outdir=args.out
        )
        for name in ("float32", "float64")
    }
    probe_steps = min(s["steps"], args.phase_probe_steps)
    runs: dict[str, list[RowRun]] = {name: [] for name in ctxs}
    probes, per_row = {}, {}
    for name, ctx in ctxs.items():
        # A few steps first, so that start-up costs (CUDA context, library handles, kernel
        # loading) do not enter the probe, whose time is scaled up by steps / probe_steps.
        run_rows(ctx, s, groups[0], min(s["steps"], 10))
        probes[name] = run_rows(ctx, s, groups[0], probe_steps)
        per_row[name] = probes[name].engine_s * s["steps"] / probe_steps / len(groups[0])
        if probe_steps == s["steps"]:  # the probe ran the whole first call
            runs[name].append(probes[name])
    for group in groups[len(runs["float32"]) :]:
        need = len(group) * sum(per_row.values())
        if time.perf_counter() - start + need > share_s:
            break
        for name, ctx in ctxs.items():
            runs[name].append(run_rows(ctx, s, group, s["steps"]))
            done = runs[name]
            per_row[name] = sum(r.engine_s for r in done) / sum(len(r.ranks) for r in done)
        print(f"[phase] ranks {group} done at {time.perf_counter() - start:.1f} s", flush=True)
    agreement, rows = _agreement(s, runs)
    paper = kind_defaults("rpca_phase")
    result = {
        "settings": {k: s[k] for k in ("n", "steps", "trials", "ranks", "ps", "lr", "init_scale", "alpha")},
        "paper_size": all(s[k] == paper[k] for k in ("n", "steps", "trials", "ranks", "ps")),
        "rows_per_call": per_call,
        "rows_allowed": limit,
        "stopped_by_budget": len(runs["float32"]) < len(groups),
        "problems_per_row": len(s["ps"]) * s["trials"],
        "share_s": share_s,
        "wall_s": time.perf_counter() - start,
        "dtypes": {name: _dtype_summary(s, runs[name], probes[name], total_rows) for name in ctxs},
        "agreement": agreement,
    }
    return result, rows


def write_phase_csv(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------
# The image
# ---------------------------------------------------------------------------------------


@dataclass
class ImageCase:
    """The corrupted image of the gallery's run: clean, noisy, its seeds and origin."""

    name: str
    source: str
    p: float
    clean: np.ndarray
    noisy: np.ndarray
    run_seed: int
    info: dict


def load_case(args: argparse.Namespace, scales: int) -> ImageCase:
    """The image and its corruption as the gallery draws them (``experiments.images.run_image``,
    trial 0): so the kit's DOP run is the workflow's run of that image and p."""
    clean = load_image(args.image, args.image_source, args.images, args.image_size, multiple=2**scales)
    seed = trial_seed(args.seed, "images", param_key({"image": args.image, "p": args.p}), 0)
    corruption_rng, init_rng = trial_rngs(seed, 2)
    noisy = salt_and_pepper(clean, args.p, corruption_rng)
    run_seed = int(init_rng.integers(2**62))
    info = {"name": args.image, "source": args.image_source, "shape": list(clean.shape[:2]), "p": args.p}
    if args.image_source == "folder":
        path = next(iter(sorted(Path(args.images).glob(f"{args.image}.*"))), None)
        digest = sha256sum(path) if path else None
        info.update(file=str(path), sha256=digest, is_papers_file=digest == PAPER_IMAGES.get(args.image))
    return ImageCase(args.image, args.image_source, args.p, clean, noisy, run_seed, info)


# ---------------------------------------------------------------------------------------
# Part 2: image training speed, bfloat16 against float32
# ---------------------------------------------------------------------------------------


def _speed_configs(width: int, steps: int, record_every: int) -> dict[str, RecoveryConfig]:
    """The gallery's DOP settings with and without the speed settings (as ``bench_images``)."""
    paper = kind_defaults("image_gallery")
    base = dict(method="dop", width=width, steps=steps, record_every=record_every, checkpoint_every=0)
    return {
        "fast": RecoveryConfig.from_settings(paper, **base, amp="bfloat16", channels_last=True, cudnn_benchmark=True),
        "plain": RecoveryConfig.from_settings(paper, **base, amp="float32", channels_last=False, cudnn_benchmark=False),
    }


def _speed_pair(case: ImageCase, device: torch.device, width: int, steps: int, record_every: int) -> dict:
    """Both runs of ``steps`` steps; each with its wall time (set-up included) added."""
    out = {}
    for label, cfg in _speed_configs(width, steps, record_every).items():
        t0 = time.perf_counter()
        out[label] = timed_run(case.noisy, case.clean, cfg, case.run_seed, device, max(1, steps // 10))
        out[label]["wall_s"] = time.perf_counter() - t0
        print(f"[images] {label} {steps} steps: {out[label]['steps_per_s']:.2f} steps/s", flush=True)
    return out


def _planned_steps(probe: dict, probe_steps: int, left_s: float, most: int) -> int:
    """Steps both runs of the main pair can take in ``left_s``, from the probe's rates and
    set-up times."""
    per_step = sum(1.0 / r["steps_per_s"] for r in probe.values())
    setup = sum(max(0.0, r["wall_s"] - probe_steps / r["steps_per_s"]) for r in probe.values())
    fit = (SAFETY * left_s - setup) / per_step
    return int(min(most, max(0.0, fit)) // 20 * 20) if most >= 20 else int(min(most, max(0.0, fit)))


def image_part(args: argparse.Namespace, device: torch.device, share_s: float, case: ImageCase) -> dict:
    """Part 2."""
    start = time.perf_counter()
    probe_steps = args.image_probe_steps
    probe = _speed_pair(case, device, args.width, probe_steps, max(1, probe_steps // 5))
    steps = _planned_steps(probe, probe_steps, share_s - (time.perf_counter() - start), args.image_max_steps)
    main = probe
    if steps >= 2 * probe_steps:
        main = _speed_pair(case, device, args.width, steps, max(1, steps // 20))
    else:
        steps = probe_steps
    fast, plain = main["fast"], main["plain"]
    return {
        "image": case.info,
        "width": args.width,
        "method": "dop",
        "paper_size": case.clean.shape[:2] == (512, 512) and args.width == 128,
        "share_s": share_s,
        "wall_s": time.perf_counter() - start,
        "steps": steps,
        "measured_on": "the probe (the share allowed no longer pair)" if main is probe else "the main pair",
        "probe": probe,
        "runs": main,
        "speedup": fast["steps_per_s"] / plain["steps_per_s"],
        "psnr_difference_db": fast["psnr_at_end"] - plain["psnr_at_end"],
        "autocast_active": device.type == "cuda",
    }


# ---------------------------------------------------------------------------------------
# Part 3: the F16 DOP run, checkpointed across GPU windows
# ---------------------------------------------------------------------------------------


class KitCheckpointError(RuntimeError):
    """The output folder's checkpoint belongs to another run or device, or is damaged."""


def _tensor_sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def _read_png(path: Path) -> np.ndarray:
    return skimage.util.img_as_float64(skimage.io.imread(path))[..., :3]


def save_compact(suite_file: Path, out: Path, kit: dict) -> dict:
    """Split the suite's checkpoint into the kit's files in ``out``; returns their sizes.

    Kept: every entry of the suite's state but the network input (drawn again from the
    seed; its SHA-256 is kept), ``g`` and ``h`` (their own file) and the history images
    (8-bit PNGs). Both files are written aside and renamed together, the main one last.
    """
    state = torch.load(suite_file, map_location="cpu", weights_only=False)
    history = dict(state["history"])
    images = {FINAL_PNG: history.pop("final", None), BEST_PNG: history.pop("best", None)}
    main = {k: v for k, v in state.items() if k not in ("input", "g", "h", "history")}
    main.update(
        history=history,
        has_images={name: img is not None for name, img in images.items()},
        input_sha256=_tensor_sha(state["input"]),
        kit={**kit, "format": KIT_CHECKPOINT_FORMAT, "suite_checkpoint_bytes": suite_file.stat().st_size},
    )
    gh = {"step": state["step"], "g": state["g"], "h": state["h"]}
    for name, img in images.items():
        if img is not None:
            save_png(img, out / name)
    for name, obj in ((CKPT_GH, gh), (CKPT, main)):
        torch.save(obj, out / (name + ".tmp"))
    (out / (CKPT_GH + ".tmp")).replace(out / CKPT_GH)
    (out / (CKPT + ".tmp")).replace(out / CKPT)
    return {name: (out / name).stat().st_size for name in (CKPT, CKPT_GH, FINAL_PNG, BEST_PNG) if (out / name).exists()}


def load_compact(out: Path, identity: dict) -> dict | None:
    """The kit's checkpoint in ``out`` (main entries, with ``g`` and ``h``), or None if there is none.

    :raises KitCheckpointError: for files of another run, device type or format, or a
        damaged or inconsistent pair.
    """
    if not (out / CKPT).exists():
        return None
    try:
        main = torch.load(out / CKPT, map_location="cpu", weights_only=False)
        gh = torch.load(out / CKPT_GH, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for a damaged file
        raise KitCheckpointError(f"cannot read the checkpoint in {out} ({type(exc).__name__}: {exc})") from exc
    kit = main.get("kit", {})
    if kit.get("format") != KIT_CHECKPOINT_FORMAT:
        raise KitCheckpointError(f"{out / CKPT} has format {kit.get('format')}, the kit writes {KIT_CHECKPOINT_FORMAT}")
    if kit.get("identity") != identity:
        diff = sorted(k for k in identity if kit.get("identity", {}).get(k) != identity[k])
        raise KitCheckpointError(f"{out / CKPT} is another run's (differs in {', '.join(diff)})")
    if gh.get("step") != main.get("step"):
        raise KitCheckpointError(f"{CKPT} (step {main.get('step')}) and {CKPT_GH} (step {gh.get('step')}) differ")
    return {**main, "g": gh["g"], "h": gh["h"]}


def rebuild_suite_file(saved: dict, cfg: RecoveryConfig, case: ImageCase, out: Path, path: Path) -> None:
    """Write the suite's checkpoint for ``saved`` to ``path``, for ``recover_image`` to resume."""
    _, z, _ = initial_state(cfg, case.run_seed, *case.clean.shape[:2])
    if _tensor_sha(z) != saved["input_sha256"]:
        raise KitCheckpointError("the network input drawn again from the seed differs from the saved run's")
    history = dict(saved["history"])
    history["final"] = _read_png(out / FINAL_PNG) if saved["has_images"][FINAL_PNG] else None
    history["best"] = _read_png(out / BEST_PNG) if saved["has_images"][BEST_PNG] else None
    skip = ("history", "has_images", "input_sha256", "kit")
    state = {k: v for k, v in saved.items() if k not in skip}
    state.update(input=z, history=history)
    torch.save(state, path)


def _dop_identity(args: argparse.Namespace, cfg: RecoveryConfig, case: ImageCase, device: torch.device) -> dict:
    """What makes a checkpoint resumable by this invocation (besides the suite's fingerprint)."""
    return {
        "image": case.name,
        "source": case.source,
        "shape": list(case.clean.shape[:2]),
        "p": case.p,
        "seed": case.run_seed,
        "noisy_sha256": hashlib.sha256(np.ascontiguousarray(case.noisy).tobytes()).hexdigest(),
        "config": cfg.science(),
        # A CUDA generator's state does not load into a CPU one, nor the reverse.
        "device_type": device.type,
    }


@dataclass
class DopProgress:
    """The run's state across the chunks of one invocation."""

    step: int
    started_at: int
    segments: list
    saved: dict | None
    result: object = None
    loop_s: float = 0.0
    wall_s: float = 0.0
    rate: float | None = None
    setup_s: float = 0.0
    files: dict | None = None


def _chunk_steps(prog: DopProgress, cfg: RecoveryConfig, left_s: float, args: argparse.Namespace) -> int:
    """Steps of the next chunk: what fits ``left_s`` (less the last chunk's set-up time) at
    the known loop rate, capped by the chunk length, the target and ``--dop-max-steps``."""
    most = cfg.steps - prog.step
    if args.dop_max_steps is not None:
        most = min(most, prog.started_at + args.dop_max_steps - prog.step)
    fit = SAFETY * (min(left_s, args.dop_chunk_s) - prog.setup_s) * prog.rate if prog.rate else 0.0
    return max(0, int(min(most, fit)))


def _probe_rate(case: ImageCase, cfg: RecoveryConfig, device: torch.device, steps: int) -> float:
    """Steps per second of a short run without checkpoint (its first, slow steps included)."""
    t0 = time.perf_counter()
    recover_image(case.noisy, case.clean, replace(cfg, steps=steps), case.run_seed, device)
    return steps / (time.perf_counter() - t0)


def _run_chunk(prog: DopProgress, n: int, env: dict) -> None:
    """Run ``n`` steps from ``prog.step`` through the suite's checkpoint, then compact it."""
    cfg, case, device, scratch, out = env["cfg"], env["case"], env["device"], env["scratch"], env["out"]
    if prog.saved is not None and not scratch.exists():
        rebuild_suite_file(prog.saved, cfg, case, out, scratch)
    stop = prog.step + n
    # The suite saves its checkpoint at multiples of checkpoint_every and at the run's end:
    # checkpoint_every = stop saves it once, where this chunk stops (not a setting that
    # changes the numbers: the suite's fingerprint leaves it out).
    chunk_cfg = replace(cfg, checkpoint_every=stop)
    t0 = time.perf_counter()
    res = recover_image(case.noisy, case.clean, chunk_cfg, case.run_seed, device, checkpoint=scratch, stop_at=stop)
    wall = time.perf_counter() - t0
    if res.resumed_from != prog.step:
        raise KitCheckpointError(
            f"the suite resumed from step {res.resumed_from}, not {prog.step}: its fingerprint of the run changed"
        )
    segment = {
        "from": prog.step,
        "to": res.steps_done,
        "wall_s": wall,
        "steps_per_s": res.steps_per_s,
        "device": env["device_name"],
        "commit": env["commit"],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    prog.segments.append(segment)
    prog.files = save_compact(scratch, out, {"identity": env["identity"], "segments": prog.segments})
    prog.files["suite_checkpoint_bytes"] = scratch.stat().st_size
    prog.loop_s += n / res.steps_per_s
    prog.wall_s += wall
    prog.rate = res.steps_per_s
    prog.setup_s = max(0.0, wall - n / res.steps_per_s) + time.perf_counter() - t0 - wall
    prog.step, prog.result = res.steps_done, res
    print(f"[dop] steps {segment['from']}..{segment['to']}: {res.steps_per_s:.2f} steps/s", flush=True)


def dop_part(args: argparse.Namespace, device: torch.device, share_s: float, case: ImageCase, **env) -> dict:
    """Part 3. ``env`` holds ``rate_hint`` (steps/s of the same settings, or None),
    ``device_name`` and ``commit``."""
    start = time.perf_counter()
    paper = kind_defaults("image_gallery")
    every = args.dop_record_every or paper["record_every"]
    cfg = RecoveryConfig.from_settings(
        paper, method="dop", width=args.width, steps=args.dop_steps, record_every=every, checkpoint_every=0
    )
    identity = _dop_identity(args, cfg, case, device)
    try:
        saved = None if args.dop_fresh else load_compact(args.out, identity)
    except KitCheckpointError as exc:
        return {"ran": False, "reason": f"{exc}; pass --dop-fresh to start this run over in {args.out}"}
    segments = list(saved["kit"]["segments"]) if saved else []
    step = int(saved["step"]) if saved else 0
    prog = DopProgress(step=step, started_at=step, segments=segments, saved=saved)
    same_device = [s for s in segments if s["device"] == env["device_name"]]
    prog.rate = env.get("rate_hint") or (same_device[-1]["steps_per_s"] if same_device else None)
    with tempfile.TemporaryDirectory(prefix="gpu_kit_") as tmp:
        run_env = {**env, "cfg": cfg, "case": case, "device": device, "out": args.out, "identity": identity}
        run_env["scratch"] = Path(tmp) / "checkpoint.pt"
        if prog.rate is None and step < cfg.steps:
            prog.rate = _probe_rate(case, cfg, device, min(10, cfg.steps))
        while (n := _chunk_steps(prog, cfg, share_s - (time.perf_counter() - start), args)) > 0:
            try:
                _run_chunk(prog, n, run_env)
            except KitCheckpointError as exc:
                return {"ran": False, "reason": str(exc), "steps_done": prog.step}
    result = _dop_summary(prog, cfg, case, device, time.perf_counter() - start)
    result["share_s"] = share_s
    if result["checkpoint_files"] is None:  # nothing ran now: the files an earlier run left
        names = (CKPT, CKPT_GH, FINAL_PNG, BEST_PNG)
        result["checkpoint_files"] = {n: (args.out / n).stat().st_size for n in names if (args.out / n).exists()}
    return result


def _dop_summary(prog: DopProgress, cfg: RecoveryConfig, case: ImageCase, device: torch.device, wall: float) -> dict:
    res = prog.result
    if res is not None:
        history = {"iterations": res.iterations, "psnr": res.psnr, "loss": res.loss}
        best = (res.best_psnr, res.best_iteration, res.diverged)
    elif prog.saved is not None:
        history = {k: prog.saved["history"][k] for k in ("iterations", "psnr", "loss")}
        h = prog.saved["history"]
        best = (h["best_psnr"], h["best_iteration"], h["diverged"])
    else:
        history, best = {"iterations": [], "psnr": [], "loss": []}, (None, None, False)
    ran = prog.step - prog.started_at
    rate = ran / prog.loop_s if prog.loop_s > 0 else None
    paper_size = case.clean.shape[:2] == (512, 512) and cfg.width == 128 and cfg.steps == 150_000
    # The paper's number is for its own run only: F16 at full size, 150,000 steps.
    paper_value = PAPER_F16_PSNR.get(case.p, {}).get("dop") if case.name == "F16" and paper_size else None
    return {
        "ran": True,
        "image": case.info,
        "settings": {"target_steps": cfg.steps, **cfg.science(), "record_every": cfg.record_every},
        "paper_size": paper_size,
        "wall_s": wall,
        "autocast_active": device.type == "cuda" and cfg.amp != "float32",
        "steps_done": prog.step,
        "steps_at_start": prog.started_at,
        "steps_this_invocation": ran,
        "resumed": prog.started_at > 0,
        "steps_per_s": rate,
        "steps_per_s_with_setup": ran / prog.wall_s if prog.wall_s > 0 else None,
        "psnr_last": history["psnr"][-1] if history["psnr"] else None,
        "psnr_best": best[0],
        "best_iteration": best[1],
        "diverged": best[2],
        "curve": history,
        "paper_psnr_at_target": paper_value,
        "projection": None
        if not rate
        else {
            "label": "projection, not a measurement: remaining steps at this invocation's loop rate",
            "seconds_to_target": (cfg.steps - prog.step) / rate,
            "seconds_for_all_steps": cfg.steps / rate,
        },
        "segments": prog.segments,
        "checkpoint_files": prog.files,
    }


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def _fmt(value, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def _phase_lines(ph: dict) -> list[str]:
    s = ph["settings"]
    lines = [
        f"## 1. DOP phase grid{'' if ph['paper_size'] else ' (NOT at paper size)'}",
        "",
        f"n = {s['n']}, {len(s['ranks'])} ranks x {len(s['ps'])} p x {s['trials']} trials, {s['steps']} steps; "
        f"{ph['rows_per_call']} row(s) ({ph['problems_per_row']} problems each) per `dop_descent` call.",
        "",
        "| type | rows run | problem-steps/s | grid wall time (s) | basis | success fraction |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in ph["dtypes"].items():
        rate = _fmt(d["problem_steps_per_s"]) if d["rows_run"] else f"{d['probe']['problem_steps_per_s']:.3g} (probe)"
        lines.append(
            f"| {name} | {d['rows_run']} | {rate} | {_fmt(d['grid_wall_s'], '.1f')} | "
            f"{d['grid_wall_basis']} | {_fmt(d['success_fraction'])} |"
        )
    ag = ph["agreement"]
    lines += [
        "",
        f"Verdicts (rel. error of X < 0.1) agree on {ag['verdicts_agree']} of {ag['problems_in_both']} problems "
        f"run in both types; largest |error difference| {_fmt(ag['max_abs_rel_err_difference'])}.",
    ]
    for d in ag["disagreements"][:10]:
        lines.append(
            f"- rank {d['rank']}, p {d['p']:g}, trial {d['trial']}: float32 {d['rel_err_X_float32']:.4g}, "
            f"float64 {d['rel_err_X_float64']:.4g}"
        )
    return lines


def _image_lines(im: dict) -> list[str]:
    fast, plain = im["runs"]["fast"], im["runs"]["plain"]
    shape = "x".join(map(str, im["image"]["shape"]))
    return [
        f"## 2. Image training speed{'' if im['paper_size'] else ' (NOT at paper size)'}",
        "",
        f"{im['image']['name']} {shape}, width {im['width']}, DOP, {im['steps']} steps each ({im['measured_on']}).",
        "",
        "| settings | steps/s | PSNR at last recorded step (dB) |",
        "|---|---|---|",
        f"| {fast['amp']}, channels_last {fast['channels_last']}, cudnn_benchmark {fast['cudnn_benchmark']} | "
        f"{fast['steps_per_s']:.2f} | {fast['psnr_at_end']:.2f} |",
        f"| {plain['amp']} (plain) | {plain['steps_per_s']:.2f} | {plain['psnr_at_end']:.2f} |",
        "",
        f"Speed-up {im['speedup']:.2f}x; PSNR difference {im['psnr_difference_db']:+.2f} dB at step {fast['step']}."
        + ("" if im["autocast_active"] else " Autocast is CUDA-only: on this device both runs are float32."),
    ]


def _dop_lines(dp: dict) -> list[str]:
    if not dp.get("ran"):
        return ["## 3. F16 DOP run", "", f"Did not run: {dp.get('reason')}"]
    s = dp["settings"]
    lines = [
        f"## 3. {dp['image']['name']} DOP run{'' if dp['paper_size'] else ' (NOT at paper size)'}",
        "",
        f"p = {dp['image']['p']}, lr {s['lr']:g}, alpha {s['alpha']:g}, init {s['init_scale']:g}, width {s['width']}, "
        f"amp {s['amp']}{'' if dp['autocast_active'] else ' (CUDA only: float32 here)'}. "
        f"Steps done {dp['steps_done']} of {s['target_steps']} "
        f"({dp['steps_this_invocation']} in this invocation, from {dp['steps_at_start']}); "
        f"{_fmt(dp['steps_per_s'], '.2f')} steps/s "
        f"({_fmt(dp['steps_per_s_with_setup'], '.2f')} with set-up and checkpoints).",
        "",
        f"PSNR at the last recorded step: {_fmt(dp['psnr_last'], '.2f')} dB; best {_fmt(dp['psnr_best'], '.2f')} dB "
        f"at step {dp['best_iteration']}."
        + (
            f" The paper: about {dp['paper_psnr_at_target']} dB after {s['target_steps']} steps."
            if dp["paper_psnr_at_target"]
            else ""
        ),
    ]
    if dp["projection"]:
        pr = dp["projection"]
        lines.append(
            f"Projection (not measured): {_duration(pr['seconds_to_target'])} more to step {s['target_steps']}; "
            f"{_duration(pr['seconds_for_all_steps'])} for all of it at this rate."
        )
    if dp["checkpoint_files"]:
        sizes = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in dp["checkpoint_files"].items())
        lines.append(f"Checkpoint: {sizes} (the suite's own file is not kept; see the kit's docstring).")
    return lines


def summary_markdown(report: dict) -> str:
    dev = report["device"]
    lines = [
        f"# GPU kit: {dev['name']}",
        "",
        f"Commit `{report['commit']}`, {report['created']}; device {dev['name']} ({dev['device']}), "
        f"torch {dev['torch']}, CUDA {dev['cuda']}, cuDNN {dev['cudnn']}. Budget {report['budget']['total_s']:.0f} s, "
        f"used {report['budget']['used_s']:.0f} s. Extrapolations and projections are labelled as such; "
        "everything else was measured in the run named.",
        "",
    ]
    builders = {"phase": _phase_lines, "images": _image_lines, "dop": _dop_lines}
    for part, build in builders.items():
        data = report["parts"].get(part)
        if data is None:
            continue
        if data.get("carried_over_from"):
            lines += [f"_{part}: carried over from the run of {data['carried_over_from']}._", ""]
        lines += build(data) + [""]
    return "\n".join(lines)


def previous_parts(out: Path) -> dict:
    """The parts of the previous ``results.json`` in ``out``, marked as carried over."""
    try:
        old = json.loads((out / RESULTS).read_text())
    except (OSError, ValueError):
        return {}
    parts = {}
    for name, data in (old.get("parts") or {}).items():
        if isinstance(data, dict):
            parts[name] = {**data, "carried_over_from": data.get("carried_over_from") or old.get("created")}
    return parts


def write_report(report: dict, out: Path) -> None:
    report["budget"]["used_s"] = report["clock"].used()
    report["forbidden_modules_imported"] = sorted(m for m in FORBIDDEN if m in sys.modules)
    report["files"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    public = {k: v for k, v in report.items() if k != "clock"}
    write_atomic(out / RESULTS, json.dumps(jsonable(public), indent=1))
    write_atomic(out / SUMMARY, summary_markdown(public))


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, default=None, help="folder of the paper's images (F16.png, ...)")
    p.add_argument("--image-source", choices=["folder", "skimage"], default="folder")
    p.add_argument("--image", default="F16", help="image name (default F16; with skimage e.g. astronaut)")
    p.add_argument("--image-size", type=int, default=None, help="resize to this square side (default: full image)")
    p.add_argument("--p", type=float, default=0.5, help="salt-and-pepper fraction (default 0.5)")
    p.add_argument("--width", type=int, default=None, help="network width (default: the gallery's, 128)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default docs/gpu/<device>)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    p.add_argument("--seed", type=int, default=2020, help="the configuration's base seed (config.yaml: 2020)")
    p.add_argument("--budget", type=float, default=420.0, help="seconds for everything (default 420)")
    p.add_argument("--shares", type=float, nargs=3, default=[0.3, 0.25, 0.45], metavar=("PHASE", "IMAGES", "DOP"))
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    g = p.add_argument_group("phase grid (defaults: the rpca_phase sweep's, the paper's)")
    g.add_argument("--phase-n", type=int)
    g.add_argument("--phase-steps", type=int)
    g.add_argument("--phase-trials", type=int)
    g.add_argument("--phase-ranks", type=_ints, help="comma-separated")
    g.add_argument("--phase-ps", type=_floats, help="comma-separated")
    g.add_argument("--phase-probe-steps", type=int, default=500, help="steps of the sizing probe (default 500)")
    g.add_argument("--phase-rows-per-call", type=int, default=1, help="grid rows per dop_descent call (default 1)")
    g.add_argument("--phase-max-rows", type=int, default=None, help="run at most this many rows")
    g = p.add_argument_group("image speed")
    g.add_argument("--image-probe-steps", type=int, default=30, help="steps of each probe run (default 30)")
    g.add_argument("--image-max-steps", type=int, default=2000, help="most steps of each main run (default 2000)")
    g = p.add_argument_group("DOP run")
    g.add_argument("--dop-steps", type=int, default=None, help="the run's length (default: the gallery's, 150000)")
    g.add_argument("--dop-record-every", type=int, default=None, help="default: the gallery's, 500")
    g.add_argument("--dop-max-steps", type=int, default=None, help="most steps in this invocation")
    g.add_argument("--dop-chunk-s", type=float, default=90.0, help="seconds between compact checkpoints (90)")
    g.add_argument("--dop-fresh", action="store_true", help="start the run over, replacing the folder's checkpoint")
    args = p.parse_args(argv)
    gallery = kind_defaults("image_gallery")
    args.width = args.width or int(gallery["widths"][0])
    args.dop_steps = args.dop_steps or int(gallery["steps"])
    if args.image_source == "folder" and args.images is None and set(args.parts) != {"phase"}:
        p.error("--images FOLDER is required (or --image-source skimage --image astronaut for a dry run)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dry = "-dry-run" if args.image_source == "skimage" else ""
    args.out = args.out or REPO / "docs" / "gpu" / (device_slug(device) + dry)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = {part: w for part, w in zip(PARTS, args.shares, strict=True) if part in args.parts}
    clock = Clock(args.budget, weights)
    info = device_info(device)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_commit(),
        "command": sys.argv,
        "device": info,
        "budget": {"total_s": args.budget, "shares": weights},
        "parts": previous_parts(args.out),
        "clock": clock,
    }
    needs_image = "images" in weights or "dop" in weights
    case = load_case(args, int(kind_defaults("image_gallery")["scales"])) if needs_image else None
    rate_hint = None
    for part in weights:
        share = clock.share(part)
        print(f"[kit] {part}: {share:.0f} s of {args.budget - clock.used():.0f} s left", flush=True)
        reset_memory(device)
        if part == "phase":
            result, rows = phase_part(args, device, share)
            write_phase_csv(rows, args.out / PHASE_CSV)
        elif part == "images":
            result = image_part(args, device, share, case)
            rate_hint = result["runs"]["fast"]["steps_per_s"]
        else:
            result = dop_part(
                args, device, share, case, rate_hint=rate_hint, device_name=info["name"], commit=report["commit"]
            )
        result["peak_memory_gib"] = peak_memory_gib(device)
        report["parts"][part] = result
        write_report(report, args.out)
    print(f"[kit] done in {clock.used():.0f} s; results in {args.out}", flush=True)
    return report


if __name__ == "__main__":
    main()
