"""Speed levers for one CPU step of robust image recovery, each against today's path, one run.

Today's path is :class:`implicit_bias.image_recovery._Run` on the CPU: float32, contiguous
memory, plain SGD written out, one process on every torch thread. Each lever is built from
the same start in the same process and timed in interleaved rounds (best of ``--rounds`` of
``--round-steps`` steps, after a warm-up), so the ratios share the machine's load:

* ``channels_last``: network and input in channels-last memory (the CUDA setting, on the CPU);
* ``batched_noise``: the input's perturbations drawn 100 steps at a time (the same numbers);
* ``compile``: ``torch.compile`` of the forward pass and the loss (its first steps compile;
  the time they took beyond a steady step is printed);
* ``two_processes`` (``--processes``): the workflow's layout on a CPU, image jobs of one
  thread each, two at once: the total steps/s of two concurrent one-thread processes
  against one process on both threads.

For each in-process lever it also prints how far its output is from today's after 0, 1 and
20 updates from the same start (float32 rounding grows quickly at lr 1, alpha 500) and the
PSNR difference after 20. Writes JSON and Markdown::

    python benchmarks/bench_image_cpu.py [--size 128] [--width 32] [--method dop]
        [--levers channels_last,batched_noise,compile] [--processes] [--out benchmarks/out/image_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from implicit_bias.config import kind_defaults
from implicit_bias.image_data import load_image, psnr, salt_and_pepper
from implicit_bias.image_recovery import RecoveryConfig, _Run, _to_image, gradient_step
from implicit_bias.publish import _machine as machine

CPU = torch.device("cpu")
LEVERS = ("channels_last", "batched_noise", "compile")
#: Updates after which the outputs are compared with today's.
COMPARED_AT = (0, 1, 20)


class _Lever(_Run):
    """:class:`_Run` with one lever; :meth:`step` is ``_Run.step`` with it applied."""

    def __init__(self, noisy, cfg: RecoveryConfig, seed: int, lever: str):
        super().__init__(noisy, cfg, seed, CPU)
        self.lever = lever
        if lever == "channels_last":
            self.net = self.net.to(memory_format=torch.channels_last)
            self.z = self.z.contiguous(memory_format=torch.channels_last)
        self.noise = None
        self.forward = torch.compile(self._forward) if lever == "compile" else self._forward

    def _perturbation(self) -> torch.Tensor:
        if self.lever != "batched_noise":
            return torch.randn(self.z.shape, generator=self.noise_gen).mul_(self.cfg.input_noise_std)
        if not self.noise:  # the generator's stream, drawn 100 steps at a time
            block = torch.randn((100, *self.z.shape), generator=self.noise_gen).mul_(self.cfg.input_noise_std)
            self.noise = list(block.unbind(0))[::-1]
        return self.noise.pop()

    def _forward(self, x, y):
        out = self.net(x)
        fit = out + (self.gh[0] * self.gh[0] - self.gh[1] * self.gh[1]) if self.gh else out
        loss = (fit - y).abs().mean() if self.cfg.method == "dip_l1" else (fit - y).square().mean()
        return out, loss

    def step(self, unperturbed: bool = False):
        out, loss = self.forward(self.z + self._perturbation(), self.y)
        gradient_step(loss, self.theta, self.cfg.lr, self.gh, self.cfg.alpha * self.cfg.lr)
        return out, loss, None


def _problem(opts):
    clean = load_image("astronaut", "skimage", None, size=opts.size)
    noisy = salt_and_pepper(clean, 0.5, opts.seed)
    settings = {**kind_defaults("image_gallery"), "steps": 10**9, "record_every": 10**9, "checkpoint_every": 0}
    cfg = RecoveryConfig.from_settings(settings, method=opts.method, width=opts.width)
    return clean, noisy, cfg


def _make(name: str, noisy, cfg, seed: int) -> _Run:
    return _Run(noisy, cfg, seed, CPU) if name == "today" else _Lever(noisy, cfg, seed, name)


def _steps(run: _Run, n: int) -> float:
    """Seconds for ``n`` steps."""
    t0 = time.perf_counter()
    for _ in range(n):
        run.step()
    return time.perf_counter() - t0


def _worker(opts) -> None:
    """One timed process (``--processes``): warm up, wait for the others, then steps/s."""
    torch.set_num_threads(opts.threads)
    _, noisy, cfg = _problem(opts)
    run = _make("today", noisy, cfg, opts.seed)
    _steps(run, opts.warmup)
    barrier = Path(opts.barrier)
    (barrier / f"ready{opts.rank}").touch()
    while len(list(barrier.glob("ready*"))) < opts.workers:
        time.sleep(0.01)
    rates = [opts.round_steps / _steps(run, opts.round_steps) for _ in range(opts.rounds)]
    print(json.dumps(rates))


def _processes(opts, workers: int, threads: int) -> float:
    """Total steps/s of ``workers`` concurrent processes of ``threads`` threads each (the
    best round, summed over the processes)."""
    args = [sys.executable, __file__, "--size", str(opts.size), "--width", str(opts.width)]
    args += ["--method", opts.method, "--seed", str(opts.seed), "--warmup", str(opts.warmup)]
    args += ["--rounds", str(opts.rounds), "--round-steps", str(opts.round_steps)]
    with tempfile.TemporaryDirectory() as barrier:
        procs = [
            subprocess.Popen(
                [*args, "--worker", "--threads", str(threads), "--rank", str(r), "--workers", str(workers)]
                + ["--barrier", barrier],
                stdout=subprocess.PIPE,
                text=True,
            )
            for r in range(workers)
        ]
        rates = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return max(sum(r) for r in zip(*rates, strict=True))


def _options(argv=None) -> argparse.Namespace:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--size", type=int, default=128, help="image side (a multiple of 32)")
    args.add_argument("--width", type=int, default=32, help="network width")
    args.add_argument("--method", default="dop", choices=["dip", "dip_l1", "dop"])
    args.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of {', '.join(LEVERS)}")
    args.add_argument("--processes", action="store_true", help="also time two one-thread processes against one")
    args.add_argument("--threads", type=int, default=2, help="torch threads of the in-process runs")
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--round-steps", type=int, default=20)
    args.add_argument("--warmup", type=int, default=3)
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--out", default="benchmarks/out/image_cpu.json", help="JSON path; Markdown beside it")
    args.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    args.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args.add_argument("--barrier", default=None, help=argparse.SUPPRESS)
    opts = args.parse_args(argv)
    opts.levers = [x for x in opts.levers.split(",") if x]
    unknown = sorted(set(opts.levers) - set(LEVERS))
    if unknown:
        args.error(f"unknown levers {unknown}; choose from {', '.join(LEVERS)}")
    if min(opts.rounds, opts.round_steps, opts.threads) < 1 or opts.warmup < 0:
        args.error("--rounds, --round-steps and --threads must be >= 1, --warmup >= 0")
    return opts


def main(argv=None) -> dict:
    opts = _options(argv)
    if opts.worker:
        _worker(opts)
        return {}
    torch.set_num_threads(opts.threads)
    clean, noisy, cfg = _problem(opts)
    runs, outputs, first_s = {}, {}, {}
    for name in ("today", *opts.levers):
        run = _make(name, noisy, cfg, opts.seed)
        kept, times = [], []
        for k in range(max(COMPARED_AT) + 1):
            t0 = time.perf_counter()
            out = run.step()[0]
            times.append(time.perf_counter() - t0)
            if k in COMPARED_AT:
                kept.append(out.detach().contiguous().clone())
        runs[name], outputs[name] = run, kept
        first_s[name] = sum(times[:3]) - 3 * sorted(times[3:])[len(times[3:]) // 2]
    for run in runs.values():
        _steps(run, opts.warmup)
    best = dict.fromkeys(runs, 0.0)
    for _ in range(opts.rounds):
        for name, run in runs.items():
            best[name] = max(best[name], opts.round_steps / _steps(run, opts.round_steps))
    base = outputs["today"]
    rows = []
    for name in runs:
        diff = [float((a - b).abs().max()) for a, b in zip(outputs[name], base, strict=True)]
        d_psnr = psnr(clean, _to_image(outputs[name][-1])) - psnr(clean, _to_image(base[-1]))
        rows.append(
            {
                "path": name,
                "steps_per_s": best[name],
                "ratio": best[name] / best["today"],
                **{f"max_diff_after_{k}": v for k, v in zip(COMPARED_AT, diff, strict=True)},
                "psnr_diff_after_20": d_psnr,
                "first_steps_extra_s": first_s[name],
            }
        )
    if opts.processes:
        one = _processes(opts, 1, opts.threads)
        two = _processes(opts, 2, 1)
        rows.append({"path": f"one process x {opts.threads} threads", "steps_per_s": one, "ratio": 1.0})
        rows.append({"path": "two processes x 1 thread (total)", "steps_per_s": two, "ratio": two / one})
    facts = {
        "size": opts.size,
        "width": opts.width,
        "method": opts.method,
        "threads": opts.threads,
        "machine": machine(),
        "torch": torch.__version__,
        "rows": rows,
    }
    _write(facts, Path(opts.out))
    return facts


def _write(facts: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(facts, indent=2))
    head = f"{facts['method']}, {facts['size']} x {facts['size']} px, width {facts['width']}, float32"
    lines = [
        f"One CPU step of image recovery, levers against today's path: {head}.",
        "",
        f"{facts['machine']}; torch {facts['torch']}, {facts['threads']} threads in process; "
        "best of interleaved rounds.",
        "",
        "| path | steps/s | ratio | max output diff after 0 / 1 / 20 updates | PSNR diff after 20 (dB) |",
        "|---|---:|---:|---|---:|",
    ]
    for r in facts["rows"]:
        diffs = " / ".join(f"{r[f'max_diff_after_{k}']:.1e}" for k in COMPARED_AT) if "psnr_diff_after_20" in r else ""
        dp = f"{r['psnr_diff_after_20']:+.3f}" if "psnr_diff_after_20" in r else ""
        lines.append(f"| {r['path']} | {r['steps_per_s']:.2f} | {r['ratio']:.2f} | {diffs} | {dp} |")
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
