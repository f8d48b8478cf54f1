"""Checks of what a run needs from the machine, made before any job starts: the device, and
whatever a kind's jobs read (the images an image sweep names, say)."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError


def _check_mps(name: str) -> None:
    """:raises RuntimeError: for an MPS device that torch does not see (torch itself would
    accept the name and fail only at the first tensor a job puts there)."""
    import torch

    if name.startswith("mps") and not torch.backends.mps.is_available():
        why = "no MPS device is present" if torch.backends.mps.is_built() else "this torch was built without MPS"
        raise RuntimeError(f"device {name!r} was asked for, but torch sees no MPS device ({why})")


def preflight(config: dict, registry, *, root: str | Path, local: bool = True) -> None:
    """Refuse a run that would fail in its jobs for want of something.

    :param config: a validated configuration (:func:`~implicit_bias.config.validate_config`).
    :param registry: the experiment families.
    :param root: the repository root (relative paths start there).
    :param local: whether the jobs run on this machine; a cluster's nodes may have a device
        this machine lacks, so then the device is not checked.
    :raises ConfigError: listing every problem, each naming its key.
    """
    msgs = []
    if local and config["device"] != "auto":
        # Only here: torch takes seconds to import, and the Snakemake process needs it for nothing else.
        from .devices import resolve_device

        try:
            _check_mps(config["device"])
            resolve_device(config["device"])
        except (RuntimeError, ValueError) as exc:
            msgs.append(f"config.device: {exc} (use device: auto, or cpu)")
    if str(config["device"]).startswith("mps") and config["dtype"] == "float64":
        msgs.append("config.dtype: float64 was asked for on an MPS device, which has no float64 (use dtype: float32)")
    for name, settings in config["resolved"].items():
        check = registry.kind(settings["kind"]).preflight
        if check is not None:
            msgs += [f"sweeps.{name}.{key}: {text}" for key, text in check(settings)]
    if msgs:
        raise ConfigError("this run cannot start:\n  " + "\n  ".join(msgs))
