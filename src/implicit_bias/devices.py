"""Torch devices and floating-point types, by the names the configuration uses."""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` means CUDA when present, else CPU; other names are passed to torch.

    :raises RuntimeError: for a CUDA device that torch does not see.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for, but torch sees no CUDA device")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} was asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return dev


def resolve_dtype(name: str) -> torch.dtype:
    """``float32`` or ``float64`` as a torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]
