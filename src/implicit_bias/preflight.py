"""Checks of what a run needs from the machine, made before any job starts: the device, and
whatever a kind's jobs read (the images an image sweep names, say)."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError
from .devices import resolve_device


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
        try:
            resolve_device(config["device"])
        except (RuntimeError, ValueError) as exc:
            msgs.append(f"config.device: {exc} (use device: auto, or cpu)")
    for name, settings in config["resolved"].items():
        check = registry.kind(settings["kind"]).preflight
        if check is not None:
            msgs += [f"sweeps.{name}.{key}: {text}" for key, text in check(settings)]
    if msgs:
        raise ConfigError("this run cannot start:\n  " + "\n  ".join(msgs))
