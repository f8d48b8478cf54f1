"""Robust recovery of natural images from salt-and-pepper corruption (You, Zhu, Qu, Ma,
NeurIPS 2020, Sec. 4.2): DIP, DIP-l1 and double over-parameterization (DOP) on the Deep
Image Prior network of :mod:`implicit_bias.dip_network`; one training loop for all three,
with resumable checkpoints.

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
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .dip_network import SkipNet
from .grids import BOOKKEEPING_KEYS, RECORDING_KEYS
from .image_data import psnr
from .progress import progress_bar

METHODS = ("dip", "dip_l1", "dop")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class RecoveryConfig:
    """Settings of one recovery run; build it from a sweep's resolved settings with
    :meth:`from_settings` (the values, the paper's or ours, live in the configuration schema).

    :ivar method: ``dip`` (MSE), ``dip_l1`` (mean absolute error) or ``dop``.
    :ivar width: channels of every convolution of the network.
    :ivar steps: gradient steps.
    :ivar lr: SGD step for the network parameters.
    :ivar alpha: ratio of the step of ``g, h`` to ``lr``.
    :ivar init_scale: standard deviation of the iid Gaussian ``g0, h0``.
    :ivar input_channels: channels of the network input.
    :ivar input_scale: the input is ``U[0, 1) * input_scale``.
    :ivar input_noise_std: std of the Gaussian added to the input at every step.
    :ivar scales: levels of the hourglass.
    :ivar skip_channels: channels of each skip branch.
    :ivar record_every: record PSNR and loss every this many steps.
    :ivar checkpoint_every: save a checkpoint every this many steps (0: only at the end).
    :ivar baseline_optimizer: how DIP and DIP-l1 train ``theta``: ``sgd`` (plain gradient
        descent with step ``lr``: the official DOP script with the corruption's step at 0)
        or ``adam`` (Adam with step ``adam_lr``, the Deep Image Prior paper's). DOP always
        takes plain gradient steps (paper eq. 10).
    :ivar adam_lr: Adam's step for the baselines.
    :ivar amp: autocast precision of the network on CUDA: ``float32`` (off; the official
        code's) or ``bfloat16`` (which needs no loss scaling); ``g``, ``h``, the loss and the
        output layer stay float32. CPU runs are always float32.
    :ivar tf32: let CUDA convolutions and matrix products use TF32 (set for every run, as
        PyTorch's default lets cuDNN use it).
    :ivar channels_last: channels-last memory format on CUDA.
    :ivar cudnn_benchmark: let cuDNN time its convolution algorithms on CUDA.
    """

    method: str
    width: int
    steps: int
    lr: float
    alpha: float
    init_scale: float
    input_channels: int
    input_scale: float
    input_noise_std: float
    scales: int
    skip_channels: int
    record_every: int
    checkpoint_every: int
    baseline_optimizer: str
    adam_lr: float
    amp: str
    tf32: bool
    channels_last: bool
    cudnn_benchmark: bool

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.amp not in ("float32", "bfloat16"):
            raise ValueError(f"amp must be float32 or bfloat16, got {self.amp!r}")
        if self.baseline_optimizer not in OPTIMIZERS:
            raise ValueError(f"baseline_optimizer must be one of {OPTIMIZERS}, got {self.baseline_optimizer!r}")

    @property
    def optimizer(self) -> str:
        """What trains ``theta`` in this run: ``sgd`` or ``adam`` (DOP: always ``sgd``)."""
        return "sgd" if self.method == "dop" else self.baseline_optimizer

    @classmethod
    def from_settings(cls, settings: dict, **overrides) -> RecoveryConfig:
        """The fields of this class taken from a sweep's resolved ``settings``, then ``overrides``
        (a run's ``method`` and ``width``, say)."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {k: settings[k] for k in names if k in settings}
        values.update(overrides)
        missing = [k for k in names if k not in values]
        if missing:
            raise KeyError(f"settings lack {missing} for a RecoveryConfig")
        return cls(**values)

    def science(self) -> dict:
        """The settings that change the numbers (a checkpoint resumes only if they match)."""
        out = asdict(self)
        # Besides the keys that change no number or only the recorded steps, the budget: a
        # longer run resumes a shorter one's checkpoint.
        for key in ("steps", *RECORDING_KEYS, *BOOKKEEPING_KEYS):
            out.pop(key, None)
        # The baselines' optimizer is no part of a DOP run, nor Adam's step of an SGD run.
        if self.method == "dop":
            out.pop("baseline_optimizer")
        if self.optimizer != "adam":
            out.pop("adam_lr")
        return out


@dataclass
class RecoveryResult:
    """What a run leaves.

    :ivar iterations: the recorded steps (number of updates before the recorded output).
    :ivar psnr: PSNR of ``phi(theta)`` against the clean image at each recorded step, the
        output for the perturbed input of that step (the official code's metric).
    :ivar psnr_clean: the same for the unperturbed input (ours: no evaluation noise).
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
    psnr_clean: list[float] = field(default_factory=list)
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

    @property
    def psnr_clean_last(self) -> float:
        return self.psnr_clean[-1] if self.psnr_clean else float("nan")

    @property
    def psnr_clean_best(self) -> float:
        """The highest recorded PSNR of the output for the unperturbed input (NaN: none)."""
        values = [v for v in self.psnr_clean if math.isfinite(v)]
        return max(values) if values else float("nan")

    def record(
        self, step: int, image: np.ndarray, loss: float, clean: np.ndarray, unperturbed: np.ndarray | None = None
    ) -> float:
        """Add the output recorded at ``step`` (and, if given, the output for the unperturbed
        input); returns its PSNR (NaN once non-finite)."""
        finite = math.isfinite(loss) and bool(np.isfinite(image).all())
        value = psnr(clean, image) if finite else float("nan")
        self.diverged = self.diverged or not finite
        self.iterations.append(step)
        self.psnr.append(value)
        if unperturbed is not None:
            ok = finite and bool(np.isfinite(unperturbed).all())
            self.psnr_clean.append(psnr(clean, unperturbed) if ok else float("nan"))
        self.loss.append(loss)
        if finite and value > self.best_psnr:
            self.best_psnr, self.best_iteration, self.best = value, step, image
        self.final = image
        return value


#: What a checkpoint keeps of a run's record besides the model and optimizer.
HISTORY_KEYS = (
    "iterations",
    "psnr",
    "psnr_clean",
    "loss",
    "final",
    "best",
    "best_psnr",
    "best_iteration",
    "diverged",
)


class Checkpoint:
    """A run's resumable state in one file, written atomically.

    :param path: the file (None: no checkpoints).
    :param fingerprint: what the run is (settings, seed, data); a file written by another
        run is ignored.
    """

    def __init__(self, path: str | Path | None, fingerprint: dict):
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint

    def load(self, steps: int) -> dict | None:
        """The saved state, or None when there is none for this run.

        A file that cannot be read (a truncated or damaged one, from a crash or a full disk)
        is set aside as ``<name>.unreadable-<time>``, with a warning naming it, and the run
        starts over.
        """
        if self.path is None or not self.path.exists():
            return None
        try:
            # On the CPU: generator states must stay there; tensors move on assignment.
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises several types for a damaged file
            aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.replace(aside)
            warnings.warn(
                f"checkpoint {self.path} could not be read ({type(exc).__name__}: {exc}); "
                f"moved it to {aside.name} and starting this run over",
                stacklevel=2,
            )
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            return None
        return state if state["step"] <= steps else None

    def save(self, state: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({"fingerprint": self.fingerprint, **state}, tmp)
        tmp.replace(self.path)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().unsqueeze(0).to(device)


def _to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().squeeze(0).permute(1, 2, 0).cpu().numpy().astype(np.float64)


def _seeds(seed: int) -> tuple[int, int]:
    """(initialization seed, input-perturbation seed) from a run's seed."""
    a, b = np.random.SeedSequence(seed).generate_state(2, np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1))


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
            torch._foreach_add_(gh, grads[len(theta) :], alpha=-lr_gh)


def set_tf32(allowed: bool) -> None:
    """Whether CUDA convolutions and matrix products may use TF32 (process-wide; PyTorch's
    default lets cuDNN convolutions use it). No effect on the CPU."""
    mode = "tf32" if allowed else "ieee"
    torch.backends.cudnn.conv.fp32_precision = mode
    torch.backends.cuda.matmul.fp32_precision = mode


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


class _Run:
    """The state of one recovery run on its device: network, input, ``g, h``, generator."""

    def __init__(self, noisy: np.ndarray, cfg: RecoveryConfig, seed: int, device: torch.device):
        cuda = device.type == "cuda"
        self.cfg, self.device = cfg, device
        self.fmt = torch.channels_last if (cuda and cfg.channels_last) else torch.contiguous_format
        if cuda:
            torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        set_tf32(cfg.tf32)
        _, noise_seed = _seeds(seed)
        net, z, gh = initial_state(cfg, seed, *noisy.shape[:2])
        self.net = net.to(device=device, memory_format=self.fmt)
        self.z = z.to(device).contiguous(memory_format=self.fmt)
        self.y = _to_tensor(noisy, device)
        self.theta = list(self.net.parameters())
        self.gh = [t.to(device).requires_grad_(True) for t in gh] if cfg.method == "dop" else []
        self.amp = torch.bfloat16 if cuda and cfg.amp == "bfloat16" else None
        self.noise_gen = torch.Generator(device=device).manual_seed(noise_seed)
        # The baselines' Adam (DIP's code: torch.optim.Adam at its defaults besides the step).
        self.adam = torch.optim.Adam(self.theta, lr=cfg.adam_lr) if cfg.optimizer == "adam" else None

    def _autocast(self):
        return torch.autocast(
            device_type=self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None
        )

    def unperturbed_output(self) -> torch.Tensor:
        """The network's output for the unperturbed input, changing nothing: no update, and
        BatchNorm's running statistics (which a forward pass in training mode moves, and
        which the training forward never reads) put back."""
        saved = [b.clone() for b in self.net.buffers()]
        with torch.no_grad(), self._autocast():
            out = self.net(self.z)
        with torch.no_grad():
            for buffer, value in zip(self.net.buffers(), saved, strict=True):
                buffer.copy_(value)
        return out

    def step(self, unperturbed: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One update; returns the network's output before it, the loss and, if asked, the
        output for the unperturbed input before it."""
        cfg = self.cfg
        still = self.unperturbed_output() if unperturbed else None
        noise = torch.randn(self.z.shape, generator=self.noise_gen, device=self.device).mul_(cfg.input_noise_std)
        with self._autocast():
            out = self.net(self.z + noise)
        if self.gh:
            g, h = self.gh
            fit = out + (g * g - h * h)
        else:
            fit = out
        loss = (fit - self.y).abs().mean() if cfg.method == "dip_l1" else (fit - self.y).square().mean()
        if self.adam is None:
            gradient_step(loss, self.theta, cfg.lr, self.gh, cfg.alpha * cfg.lr)
        else:
            self.adam.zero_grad(set_to_none=True)
            loss.backward()
            self.adam.step()
        return out, loss, still

    def state(self) -> dict:
        g, h = (t.detach().cpu() for t in self.gh) if self.gh else (None, None)
        return {
            "net": self.net.state_dict(),
            "input": self.z.detach().cpu(),
            "g": g,
            "h": h,
            "noise_rng": self.noise_gen.get_state(),
            "adam": None if self.adam is None else self.adam.state_dict(),
        }

    def restore(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.z = state["input"].to(self.device).contiguous(memory_format=self.fmt)
        if self.gh:
            with torch.no_grad():
                self.gh[0].copy_(state["g"])
                self.gh[1].copy_(state["h"])
        self.noise_gen.set_state(state["noise_rng"])
        if self.adam is not None:
            self.adam.load_state_dict(state["adam"])

    def corruption(self) -> np.ndarray | None:
        """DOP's estimate of the corruption, ``g*g - h*h``."""
        if not self.gh:
            return None
        g, h = (t.detach() for t in self.gh)
        return _to_image(g * g - h * h)


def recover_image(
    noisy: np.ndarray,
    clean: np.ndarray,
    cfg: RecoveryConfig,
    seed: int,
    device: torch.device | str = "cpu",
    *,
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
        and seed, the run resumes from it (one of other settings is not used, and the run's
        own overwrites it; an unreadable one is set aside, see :meth:`Checkpoint.load`); it
        is rewritten every ``cfg.checkpoint_every`` steps and at the end.
    :param stop_at: stop after this many updates (as a killed run would, but cleanly).
    :param desc: progress-bar label (None: no bar).
    :param on_record: called with ``(iteration, psnr, loss)`` at each recorded step.
    :returns: the :class:`RecoveryResult`.
    """
    device = torch.device(device)
    run = _Run(noisy, cfg, seed, device)
    h, w = noisy.shape[:2]
    ckpt = Checkpoint(
        checkpoint,
        {
            "config": cfg.science(),
            "seed": int(seed),
            "shape": [int(h), int(w)],
            "noisy_sha": hashlib.sha256(np.ascontiguousarray(noisy).tobytes()).hexdigest(),
        },
    )
    result = RecoveryResult()
    start = 0
    state = ckpt.load(cfg.steps)
    if state is not None:
        run.restore(state)
        for key in HISTORY_KEYS:
            setattr(result, key, state["history"][key])
        start = result.resumed_from = int(state["step"])

    def save(step: int) -> None:
        ckpt.save({"step": step, **run.state(), "history": {k: getattr(result, k) for k in HISTORY_KEYS}})

    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    run.net.train()
    t0 = time.perf_counter()
    with progress_bar(cfg.steps, desc) as bar:
        bar.update(start)
        for k in range(start, end):
            recorded = k % cfg.record_every == 0 or k == cfg.steps - 1
            out, loss, still = run.step(unperturbed=recorded)
            # The only host synchronisation: at recorded steps (the official code's
            # convention: the output before update k is recorded as iteration k).
            if recorded:
                loss_value = float(loss.detach())
                value = result.record(k, _to_image(out), loss_value, clean, _to_image(still))
                if on_record is not None:
                    on_record(k, value, loss_value)
            if cfg.checkpoint_every and (k + 1) % cfg.checkpoint_every == 0 and k + 1 < cfg.steps:
                save(k + 1)
            bar.update(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - t0
    result.steps_done = end
    result.steps_per_s = (end - start) / elapsed if elapsed > 0 and end > start else float("nan")
    if end == cfg.steps and end > start:
        save(end)
    result.corruption = run.corruption()
    return result
