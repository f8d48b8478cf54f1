"""Robust recovery of natural images from salt-and-pepper corruption (You, Zhu, Qu, Ma,
NeurIPS 2020, Sec. 4.2): DIP, DIP-l1 and double over-parameterization (DOP) on the Deep
Image Prior network of :mod:`implicit_bias.dip_network`.

The corrupted image is ``y = x* + s*``. The three methods fit ``y`` with the network
output ``phi(theta)`` (input: fixed noise, perturbed each step):

.. math::

    \\text{DIP:}\\quad \\min_\\theta \\tfrac{1}{N}\\|\\phi(\\theta) - y\\|_2^2, \\qquad
    \\text{DIP-}\\ell_1\\text{:}\\quad \\min_\\theta \\tfrac{1}{N}\\|\\phi(\\theta) - y\\|_1,

.. math::

    \\text{DOP:}\\quad \\min_{\\theta, g, h}\\tfrac{1}{N}
        \\|\\phi(\\theta) + g \\circ g - h \\circ h - y\\|_2^2

by plain gradient descent with step ``lr`` for ``theta`` and ``alpha * lr`` for ``g, h``
(paper eq. 10; the official code uses the mean over the ``N = 3HW`` entries, lr 1 and 500).
The recovered image is ``phi(theta)``; PSNR is measured against the clean image.

Images come from a folder (the paper's four: F16, Peppers, Baboon, kodim03, from the
authors' repository ChongYou/robust-image-recovery, ``data/denoising``), or from the
images bundled with scikit-image (``skimage.data``), which need no download.
"""

from __future__ import annotations

import hashlib
import math
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import skimage
import skimage.data
import skimage.io
import skimage.metrics
import skimage.transform
import skimage.util
import torch

from .dip_network import SkipNet
from .progress import progress_bar

METHODS = ("dip", "dip_l1", "dop")

#: The paper's test images, with the SHA-256 of the files in the authors' repository.
PAPER_IMAGES = {
    "Baboon": "3714ba077446c372241027cc672f4c32749f95089ffbc0188398e39246e1a440",
    "F16": "33810cc97ab8222e5bbb5fb32394d314d7d53564b008a4bf5371d0044ca45336",
    "Peppers": "d7b926dff30cdbe2760f0f72d0850aac7d9b4bf2ad83a77370cef1e1ded52f9f",
    "kodim03": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
}
PAPER_IMAGES_URL = "https://raw.githubusercontent.com/ChongYou/robust-image-recovery/master/data/denoising/{name}.png"


class MissingImageError(FileNotFoundError):
    """An image the configuration names is not in the configured folder."""


# ---------------------------------------------------------------------------------------
# Images, corruption, PSNR
# ---------------------------------------------------------------------------------------


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksums(folder: Path) -> dict[str, str]:
    """File name to SHA-256 from ``folder/SHA256SUMS`` (``sha256sum`` format), if present."""
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0]
    return out


def _how_to_fill(folder: Path) -> str:
    return (
        f"Put the paper's images (F16.png, Peppers.png, Baboon.png, kodim03.png) in {folder}: "
        f"they are in the authors' repository https://github.com/ChongYou/robust-image-recovery, "
        f"folder data/denoising; `python -m implicit_bias.images fetch {folder}` downloads them "
        f"and checks their SHA-256. Or set the config key image_dir to a folder that holds them, "
        f"or use image_source: skimage (the smoke and quick sizes do)."
    )


def image_path(name: str, folder: str | Path) -> Path:
    """The file of image ``name`` in ``folder`` (``name.png``, else any ``name.*``).

    :raises MissingImageError: naming the folder and how to fill it.
    """
    folder = Path(folder)
    path = folder / f"{name}.png"
    if path.exists():
        return path
    others = sorted(folder.glob(f"{name}.*")) if folder.is_dir() else []
    others = [p for p in others if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")]
    if others:
        return others[0]
    where = "does not exist" if not folder.is_dir() else "has no such file"
    raise MissingImageError(f"image {name!r} not found: the image folder {folder} {where}. {_how_to_fill(folder)}")


def crop_to_multiple(image: np.ndarray, multiple: int = 32) -> np.ndarray:
    """Centre-crop height and width down to multiples of ``multiple`` (as DIP does)."""
    h, w = image.shape[:2]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise ValueError(f"image of size {h}x{w} is smaller than {multiple} pixels")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[top : top + nh, left : left + nw]


def _as_rgb_float(image: np.ndarray) -> np.ndarray:
    image = skimage.util.img_as_float64(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[-1] == 4:
        image = image[..., :3]
    return np.clip(image, 0.0, 1.0)


def load_image(
    name: str,
    source: str = "folder",
    folder: str | Path | None = None,
    size: int | None = None,
    multiple: int = 32,
    verify: bool = True,
) -> np.ndarray:
    """An RGB image as an ``(H, W, 3)`` float64 array in [0, 1].

    :param name: the image's name: a file stem in ``folder`` (``F16``) or, for
        ``source="skimage"``, a function of :mod:`skimage.data` (``astronaut``, ``coffee``).
    :param source: ``folder`` or ``skimage``.
    :param folder: the image folder (for ``source="folder"``). If it holds a
        ``SHA256SUMS`` file, the image's checksum is verified.
    :param size: None keeps the image, centre-cropped to multiples of ``multiple``
        (the paper); an integer centre-crops the largest square and resizes it (with
        anti-aliasing) to ``size x size``, which must itself be a multiple of ``multiple``.
    :param multiple: the network needs sizes divisible by ``2**scales``.
    :param verify: check the checksum when the folder lists one.
    :raises MissingImageError: when the image is not in the folder.
    """
    if source == "skimage":
        loader = getattr(skimage.data, name, None)
        if loader is None or not callable(loader):
            raise ValueError(f"skimage.data has no image {name!r}")
        image = loader()
    elif source == "folder":
        if folder is None:
            raise ValueError("source='folder' needs a folder")
        path = image_path(name, folder)
        expected = _checksums(Path(folder)).get(path.name)
        if verify and expected is not None and sha256sum(path) != expected:
            raise ValueError(f"{path}: SHA-256 differs from {Path(folder) / 'SHA256SUMS'}; the file is not the paper's")
        image = skimage.io.imread(path)
    else:
        raise ValueError(f"image source must be 'folder' or 'skimage', got {source!r}")
    image = _as_rgb_float(image)
    if size is None:
        return crop_to_multiple(image, multiple)
    if size % multiple:
        raise ValueError(f"image size {size} is not a multiple of {multiple}")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    resized = skimage.transform.resize(square, (size, size), anti_aliasing=True, order=3)
    return np.clip(resized, 0.0, 1.0)


def salt_and_pepper(image: np.ndarray, p: float, seed: int | np.random.Generator) -> np.ndarray:
    """Salt-and-pepper corruption: a fraction ``p`` of the entries set to 0 or 1, equally likely.

    Each entry (pixel and channel) is its own draw, as in the paper's code
    (``skimage.util.random_noise(mode="s&p", amount=p)``).
    """
    if p == 0:
        return image.copy()
    return skimage.util.random_noise(image, mode="s&p", amount=p, rng=seed, salt_vs_pepper=0.5)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with data range 1: ``10 log10(1 / MSE)``."""
    return float(skimage.metrics.peak_signal_noise_ratio(clean, estimate, data_range=1.0))


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Save an ``(H, W, 3)`` image in [0, 1] as an 8-bit PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    skimage.io.imsave(tmp, skimage.util.img_as_ubyte(np.clip(image, 0.0, 1.0)), check_contrast=False)
    tmp.replace(path)


def fetch_paper_images(folder: str | Path, names=tuple(PAPER_IMAGES)) -> list[Path]:
    """Download the paper's images from the authors' repository into ``folder``, verified.

    Files already present with the right checksum are kept. Writes ``SHA256SUMS``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        path = folder / f"{name}.png"
        if not (path.exists() and sha256sum(path) == PAPER_IMAGES[name]):
            tmp = path.with_name(path.name + ".part")
            with urllib.request.urlopen(PAPER_IMAGES_URL.format(name=name), timeout=60) as resp:
                tmp.write_bytes(resp.read())
            if sha256sum(tmp) != PAPER_IMAGES[name]:
                tmp.unlink()
                raise ValueError(f"download of {name} has the wrong SHA-256; not kept")
            tmp.replace(path)
        out.append(path)
    sums = "".join(f"{PAPER_IMAGES[n]}  {n}.png\n" for n in sorted(PAPER_IMAGES))
    (folder / "SHA256SUMS").write_text(sums)
    return out


# ---------------------------------------------------------------------------------------
# Training: one loop for DIP, DIP-l1 and DOP, with checkpoints
# ---------------------------------------------------------------------------------------


@dataclass
class RecoveryConfig:
    """Settings of one recovery run (defaults: the paper's and the official code's).

    :ivar method: ``dip`` (MSE), ``dip_l1`` (mean absolute error) or ``dop``.
    :ivar width: channels of every convolution of the network (paper: 128).
    :ivar steps: gradient steps (paper: 150,000).
    :ivar lr: SGD step for the network parameters (paper: 1).
    :ivar alpha: ratio of the step of ``g, h`` to ``lr`` (paper: 500).
    :ivar init_scale: standard deviation of the iid Gaussian ``g0, h0`` (paper: 1e-5).
    :ivar input_channels: channels of the network input (32).
    :ivar input_scale: the input is ``U[0, 1) * input_scale`` (0.1).
    :ivar input_noise_std: std of the Gaussian added to the input at every step (1/30).
    :ivar scales: levels of the hourglass (5).
    :ivar skip_channels: channels of each skip branch (4).
    :ivar record_every: record PSNR and loss every this many steps (paper: 500).
    :ivar checkpoint_every: save a checkpoint every this many steps (0: never).
    :ivar amp: autocast precision of the network on CUDA: ``float32`` (off) or
        ``bfloat16`` (which needs no loss scaling); ``g``, ``h``, the loss and the output
        layer stay float32. CPU runs are always float32.
    :ivar channels_last: channels-last memory format on CUDA.
    :ivar cudnn_benchmark: let cuDNN time its convolution algorithms on CUDA.
    """

    method: str = "dop"
    width: int = 128
    steps: int = 150_000
    lr: float = 1.0
    alpha: float = 500.0
    init_scale: float = 1e-5
    input_channels: int = 32
    input_scale: float = 0.1
    input_noise_std: float = 1.0 / 30.0
    scales: int = 5
    skip_channels: int = 4
    record_every: int = 500
    checkpoint_every: int = 5000
    amp: str = "bfloat16"
    channels_last: bool = True
    cudnn_benchmark: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.amp not in ("float32", "bfloat16"):
            raise ValueError(f"amp must be float32 or bfloat16, got {self.amp!r}")

    def science(self) -> dict:
        """The settings that change the numbers (a checkpoint resumes only if they match)."""
        out = asdict(self)
        for key in ("steps", "record_every", "checkpoint_every"):
            out.pop(key)
        return out


@dataclass
class RecoveryResult:
    """What a run leaves.

    :ivar iterations: the recorded steps (number of updates before the recorded output).
    :ivar psnr: PSNR of ``phi(theta)`` against the clean image at each recorded step.
    :ivar loss: the training loss at each recorded step.
    :ivar final: the output at the last recorded step, ``(H, W, 3)`` (the last iterate
        once the run has finished).
    :ivar best: the recorded output of highest PSNR.
    :ivar corruption: DOP's estimate ``g*g - h*h`` at the end (None for DIP, DIP-l1).
    :ivar steps_done: updates applied so far (``< steps`` when stopped early).
    :ivar resumed_from: the checkpoint's step this run started from (0: fresh).
    :ivar steps_per_s: speed of this invocation (excluding set-up).
    """

    iterations: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    final: np.ndarray | None = None
    best: np.ndarray | None = None
    best_psnr: float = -math.inf
    best_iteration: int = -1
    corruption: np.ndarray | None = None
    steps_done: int = 0
    resumed_from: int = 0
    diverged: bool = False
    steps_per_s: float = float("nan")

    @property
    def psnr_last(self) -> float:
        return self.psnr[-1] if self.psnr else float("nan")


#: What a checkpoint keeps of a run's record besides the model and optimizer.
HISTORY_KEYS = ("iterations", "psnr", "loss", "final", "best", "best_psnr", "best_iteration", "diverged")


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().unsqueeze(0).to(device)


def _to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().squeeze(0).permute(1, 2, 0).cpu().numpy().astype(np.float64)


def _seeds(seed: int) -> tuple[int, int]:
    """(initialization seed, input-perturbation seed) from a run's seed."""
    a, b = np.random.SeedSequence(seed).generate_state(2, np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1))


def _autocast_dtype(cfg: RecoveryConfig, device: torch.device):
    return torch.bfloat16 if device.type == "cuda" and cfg.amp == "bfloat16" else None


def gradient_step(loss: torch.Tensor, theta: list, lr: float, gh: list, lr_gh: float) -> None:
    r"""One step of plain gradient descent (paper eq. 10) with two step sizes.

    .. math::

        \theta \leftarrow \theta - \tau \nabla_\theta f, \qquad
        (g, h) \leftarrow (g, h) - \alpha\tau \nabla_{g,h} f

    Written out rather than with ``torch.optim.SGD`` (the same update without momentum or
    weight decay), whose construction imports torch's compiler stack: seconds per job.
    """
    params = theta + gh
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        torch._foreach_add_(theta, grads[: len(theta)], alpha=-lr)
        if gh:
            torch._foreach_add_(gh, grads[len(theta):], alpha=-lr_gh)


def initial_state(cfg: RecoveryConfig, seed: int, height: int, width: int):
    """The starting point of a run, drawn on the CPU so that every device starts alike.

    :returns: ``(net, z, gh)``: the network (PyTorch's default Kaiming-uniform weights),
        the fixed input ``U[0, 1) * input_scale`` of shape ``(1, input_channels, height,
        width)``, and ``gh`` of shape ``(2, 1, 3, height, width)`` with ``g0 = gh[0]``,
        ``h0 = gh[1]`` iid ``N(0, init_scale^2)`` (used by DOP only).
    """
    init_seed, _ = _seeds(seed)
    cpu_gen = torch.Generator().manual_seed(init_seed)
    # Module constructors draw from the global generator: fork it, so callers' state is kept.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        net = SkipNet(cfg.input_channels, 3, cfg.width, cfg.scales, cfg.skip_channels)
    z = torch.rand((1, cfg.input_channels, height, width), generator=cpu_gen) * cfg.input_scale
    gh = torch.randn((2, 1, 3, height, width), generator=cpu_gen) * cfg.init_scale
    return net, z, gh


def recover_image(
    noisy: np.ndarray,
    clean: np.ndarray,
    cfg: RecoveryConfig,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    stop_at: int | None = None,
    desc: str | None = None,
    on_record: Callable[[int, float, float], None] | None = None,
) -> RecoveryResult:
    """Fit the corrupted image with DIP, DIP-l1 or DOP (see the module docstring).

    The network (PyTorch's default Kaiming-uniform initialization), the fixed input
    ``U[0,1) * input_scale`` and ``g0, h0 ~ N(0, init_scale^2)`` are drawn on the CPU from
    ``seed``, so every device starts from the same point; the per-step input perturbation
    comes from a generator on the device, seeded from ``seed``.

    :param noisy: the corrupted image ``y``, ``(H, W, 3)`` in [0, 1].
    :param clean: the clean image, for PSNR only.
    :param cfg: the run's settings.
    :param seed: the run's seed.
    :param device: torch device.
    :param checkpoint: a file; if it exists and was written by a run of the same settings
        and seed, the run resumes from it; it is rewritten every ``cfg.checkpoint_every``
        steps and at the end.
    :param stop_at: stop after this many updates (as a killed run would, but cleanly).
    :param desc: progress-bar label (None: no bar).
    :param on_record: called with ``(iteration, psnr, loss)`` at each recorded step.
    :returns: the :class:`RecoveryResult`.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if (cuda and cfg.channels_last) else torch.contiguous_format
    if cuda:
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    _, noise_seed = _seeds(seed)
    h, w = noisy.shape[:2]
    net, z, gh = initial_state(cfg, seed, h, w)
    net = net.to(device=device, memory_format=fmt)
    z = z.to(device).contiguous(memory_format=fmt)
    y = _to_tensor(noisy, device)
    theta = list(net.parameters())
    g = hh = None
    if cfg.method == "dop":
        g = gh[0].to(device).requires_grad_(True)
        hh = gh[1].to(device).requires_grad_(True)
    amp_dtype = _autocast_dtype(cfg, device)
    noise_gen = torch.Generator(device=device).manual_seed(noise_seed)

    result = RecoveryResult()
    fingerprint = {"config": cfg.science(), "seed": int(seed), "shape": [int(h), int(w)],
                   "noisy_sha": hashlib.sha256(np.ascontiguousarray(noisy).tobytes()).hexdigest()}
    start = 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        # Loaded on the CPU: generator states must stay there; tensors move on assignment.
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") == fingerprint and state["step"] <= cfg.steps:
            net.load_state_dict(state["net"])
            z = state["input"].to(device).contiguous(memory_format=fmt)
            if g is not None:
                with torch.no_grad():
                    g.copy_(state["g"])
                    hh.copy_(state["h"])
            noise_gen.set_state(state["noise_rng"])
            for key in HISTORY_KEYS:
                setattr(result, key, state["history"][key])
            start = result.resumed_from = int(state["step"])

    def save_checkpoint(step: int) -> None:
        if ckpt_path is None:
            return
        state = {
            "fingerprint": fingerprint,
            "step": step,
            "net": net.state_dict(),
            "input": z.detach().cpu(),
            "g": None if g is None else g.detach().cpu(),
            "h": None if hh is None else hh.detach().cpu(),
            "noise_rng": noise_gen.get_state(),
            "history": {k: getattr(result, k) for k in HISTORY_KEYS},
        }
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_name(ckpt_path.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(ckpt_path)

    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    net.train()
    t0 = time.perf_counter()
    with progress_bar(cfg.steps, desc) as bar:
        bar.update(start)
        for k in range(start, end):
            noise = torch.randn(z.shape, generator=noise_gen, device=device).mul_(cfg.input_noise_std)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                out = net(z + noise)
            fit = out + (g * g - hh * hh) if g is not None else out
            loss = (fit - y).abs().mean() if cfg.method == "dip_l1" else (fit - y).square().mean()
            gradient_step(loss, theta, cfg.lr, [g, hh] if g is not None else [], cfg.alpha * cfg.lr)
            # The only host synchronisation: at recorded steps (the official code's
            # convention: the output before update k is recorded as iteration k).
            if k % cfg.record_every == 0 or k == cfg.steps - 1:
                image = _to_image(out)
                loss_value = float(loss.detach())
                finite = math.isfinite(loss_value) and bool(np.isfinite(image).all())
                value = psnr(clean, image) if finite else float("nan")
                result.diverged = result.diverged or not finite
                result.iterations.append(k)
                result.psnr.append(value)
                result.loss.append(loss_value)
                if finite and value > result.best_psnr:
                    result.best_psnr, result.best_iteration, result.best = value, k, image
                result.final = image
                if on_record is not None:
                    on_record(k, value, loss_value)
            if cfg.checkpoint_every and (k + 1) % cfg.checkpoint_every == 0 and k + 1 < cfg.steps:
                save_checkpoint(k + 1)
            bar.update(1)
    if cuda:
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - t0
    result.steps_done = end
    result.steps_per_s = (end - start) / elapsed if elapsed > 0 and end > start else float("nan")
    if end == cfg.steps and end > start:
        save_checkpoint(end)
    if g is not None:
        result.corruption = _to_image(g.detach() * g.detach() - hh.detach() * hh.detach())
    return result


def main(argv: list[str] | None = None) -> None:
    """``python -m implicit_bias.images fetch FOLDER``: download the paper's images."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m implicit_bias.images", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download the paper's four images, checking SHA-256")
    fetch.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    for path in fetch_paper_images(args.folder):
        print(path)


if __name__ == "__main__":
    main()
