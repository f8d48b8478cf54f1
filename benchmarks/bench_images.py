"""Speed of the image-recovery loop: GPU speed settings against plain float32, same machine.

Runs DOP (or another method) twice in one process on the same corrupted image from the same
start: once with the speed settings (autocast of the network to bfloat16 or float16,
channels-last memory, cuDNN autotuning) and once plain (float32, contiguous, no autotuning).
Reports steps per second, measured between recorded steps after a warm-up (the loop only
synchronises there), and the PSNR both reach at the same step.

Paper size (on a CUDA machine)::

    python benchmarks/bench_images.py --size 512 --width 128 --steps 2000

A CPU smoke check (autocast is CUDA-only, so both runs are float32 there)::

    python benchmarks/bench_images.py --size 64 --width 8 --steps 60 --device cpu
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from implicit_bias.config import deep_merge, kind_defaults, load_schema, load_yaml
from implicit_bias.devices import resolve_device
from implicit_bias.image_data import load_image, salt_and_pepper
from implicit_bias.image_recovery import RecoveryConfig, recover_image

REPO = Path(__file__).resolve().parents[1]


def timed_run(noisy, clean, cfg: RecoveryConfig, seed: int, device: torch.device, warmup: int) -> dict:
    """One run; speed from the wall time between recorded steps at or after ``warmup``."""
    marks: list[tuple[int, float]] = []

    def on_record(k: int, value: float, loss: float) -> None:
        # Recording already synchronised the device (it copied the image to the host).
        marks.append((k, time.perf_counter()))

    res = recover_image(noisy, clean, cfg, seed, device, on_record=on_record)
    timed = [(k, t) for k, t in marks if k >= warmup]
    if len(timed) >= 2:
        (k0, t0), (k1, t1) = timed[0], timed[-1]
        rate = (k1 - k0) / (t1 - t0)
    else:
        rate = res.steps_per_s
    cuda = device.type == "cuda"
    return {
        "amp": cfg.amp if cuda else "float32",
        "channels_last": cfg.channels_last and cuda,
        "cudnn_benchmark": cfg.cudnn_benchmark and cuda,
        "steps_per_s": rate,
        "psnr_at_end": res.psnr_last,
        "step": res.iterations[-1],
        "psnr_best": res.best_psnr,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="F16", help="paper image name (from image_dir) or skimage.data name")
    parser.add_argument(
        "--source",
        choices=["folder", "skimage"],
        default=None,
        help="default: folder if the image is in image_dir, else skimage's astronaut",
    )
    parser.add_argument("--image-dir", default=None, help="default: the configured image_dir")
    parser.add_argument("--size", type=int, default=512, help="image side (centre square resized); paper 512")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--method", default="dop", choices=["dip", "dip_l1", "dop"])
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=None, help="steps excluded from timing (default steps/10)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    # config.yaml may leave image_dir at the schema's default.
    configured = deep_merge(
        {"image_dir": load_schema()["properties"]["image_dir"]["default"]}, load_yaml(REPO / "config.yaml")
    )
    image_dir = Path(args.image_dir or configured["image_dir"])
    image_dir = image_dir if image_dir.is_absolute() else REPO / image_dir
    source, name = args.source, args.image
    if source is None:
        source = "folder" if any(image_dir.glob(f"{name}.*")) else "skimage"
        name = name if source == "folder" else "astronaut"
    clean = load_image(name, source, image_dir, size=args.size)
    noisy = salt_and_pepper(clean, args.p, args.seed)
    warmup = args.warmup if args.warmup is not None else max(1, args.steps // 10)
    record_every = max(1, args.steps // 20)
    # The paper's settings (the schema's defaults), at this width and length.
    base = dict(method=args.method, width=args.width, steps=args.steps, record_every=record_every, checkpoint_every=0)
    paper = kind_defaults("image_gallery")
    fast = RecoveryConfig.from_settings(paper, **base, amp="bfloat16", channels_last=True, cudnn_benchmark=True)
    plain = RecoveryConfig.from_settings(paper, **base, amp="float32", channels_last=False, cudnn_benchmark=False)
    rows = {}
    for label, cfg in (("fast", fast), ("plain", plain)):
        rows[label] = timed_run(noisy, clean, cfg, args.seed, device, warmup)
        print(f"{label:5s} {json.dumps(rows[label])}", flush=True)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "image": name,
        "source": source,
        "shape": list(clean.shape[:2]),
        "width": args.width,
        "method": args.method,
        "p": args.p,
        "steps": args.steps,
        "warmup": warmup,
        "runs": rows,
        "speedup": rows["fast"]["steps_per_s"] / rows["plain"]["steps_per_s"],
        "psnr_difference_db": rows["fast"]["psnr_at_end"] - rows["plain"]["psnr_at_end"],
    }
    print(
        f"speed-up of the speed settings over plain float32: {result['speedup']:.2f}x; "
        f"PSNR at step {rows['fast']['step']}: {rows['fast']['psnr_at_end']:.2f} dB vs "
        f"{rows['plain']['psnr_at_end']:.2f} dB"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
