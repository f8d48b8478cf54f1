"""Devices by name: an accelerator torch does not see is refused before any job runs."""

import pytest
import torch
from conftest import CONFIG, REPO, SCHEMA

from implicit_bias.config import ConfigError, load_schema, load_yaml, validate_config
from implicit_bias.devices import resolve_device
from implicit_bias.experiments import registry
from implicit_bias.preflight import _check_mps, preflight


def _preflight(**top):
    config = {**load_yaml(CONFIG), **top}
    validated = validate_config(config, load_schema(SCHEMA), registry(), REPO)
    preflight(validated, registry(), root=REPO, local=True)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an MPS device")
def test_mps_without_mps_is_refused_before_any_job():
    with pytest.raises(RuntimeError, match="sees no MPS device"):
        _check_mps("mps")
    with pytest.raises(ConfigError, match=r"config\.device: device 'mps' was asked for, but torch sees no MPS"):
        _preflight(device="mps")


def test_mps_present_is_accepted_but_not_in_float64(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    _preflight(device="mps", dtype="float32")
    with pytest.raises(ConfigError, match=r"config\.dtype: float64 was asked for on an MPS device"):
        _preflight(device="mps", dtype="float64")


def test_cpu_and_auto_pass():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    _preflight(device="cpu")
