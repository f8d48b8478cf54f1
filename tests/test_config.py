"""Configuration: sizes merge as documented; invalid values stop the run naming the key."""

import copy

import pytest
from conftest import run_snakemake

from implicit_bias.config import ConfigError, deep_merge, log_grid, short_number, validate_config
from implicit_bias.tasks import figures, sweep_cells


def test_default_config_is_valid(base_config, schema):
    cfg = validate_config(base_config, schema)
    assert cfg["size"] == "quick"
    assert {"rpca_alpha", "rpca_curves"} <= set(cfg["resolved"])


@pytest.mark.parametrize("size", ["smoke", "quick", "paper"])
def test_every_size_is_valid(base_config, schema, size):
    validate_config(dict(base_config, size=size), schema)


def test_size_precedence(base_config, schema):
    paper = validate_config(dict(base_config, size="paper"), schema)["resolved"]["rpca_alpha"]
    quick = validate_config(dict(base_config, size="quick"), schema)["resolved"]["rpca_alpha"]
    smoke = validate_config(dict(base_config, size="smoke"), schema)["resolved"]["rpca_alpha"]
    assert paper["trials"] == base_config["sweeps"]["rpca_alpha"]["trials"]
    assert quick["trials"] == base_config["sizes"]["quick"]["kinds"]["rpca_alpha"]["trials"]
    assert smoke["steps"] < quick["steps"] == paper["steps"] == 20000
    # A per-sweep size override beats the per-kind one.
    cfg = deep_merge(base_config, {"size": "quick", "sizes": {"quick": {"sweeps": {"rpca_alpha": {"trials": 5}}}}})
    assert validate_config(cfg, schema)["resolved"]["rpca_alpha"]["trials"] == 5


def test_new_sweep_takes_defaults_and_size(base_config, schema):
    cfg = deep_merge(base_config, {"sweeps": {"alpha_n100": {"kind": "rpca_alpha", "n": 100, "rank": 10}}})
    res = validate_config(cfg, schema)
    s = res["resolved"]["alpha_n100"]
    assert s["p"] == 0.3 and s["steps"] == 20000 and s["trials"] == 3  # quick shrinks it too
    cells = sweep_cells(s)
    assert "alpha~10" in cells  # sqrt(100) joins the grid
    assert figures(res)["alpha_n100"] == {"plot": "alpha_sweep", "sweeps": ["alpha_n100"]}


BAD = [
    ({"sweeps": {"rpca_alpha": {"p": 1.5}}}, "sweeps.rpca_alpha.p"),
    ({"sweeps": {"rpca_alpha": {"p": -0.1}}}, "sweeps.rpca_alpha.p"),
    ({"sweeps": {"rpca_alpha": {"rank": 60}}}, "sweeps.rpca_alpha.rank"),
    ({"sweeps": {"rpca_alpha": {"alpha_min": 0}}}, "sweeps.rpca_alpha.alpha_min"),
    ({"sweeps": {"rpca_curves": {"alpha": -1.0}}}, "sweeps.rpca_curves.alpha"),
    ({"sweeps": {"rpca_alpha": {"trials": 0}}}, "sweeps.rpca_alpha.trials"),
    ({"sweeps": {"rpca_alpha": {"steps": -5}}}, "sweeps.rpca_alpha.steps"),
    ({"sweeps": {"rpca_alpha": {"lr": "fast"}}}, "sweeps.rpca_alpha.lr"),
    ({"sweeps": {"rpca_alpha": {"stpes": 10}}}, "sweeps.rpca_alpha"),
    ({"sweeps": {"rpca_curves": {"methods": ["sgd"]}}}, "sweeps.rpca_curves.methods"),
    ({"sweeps": {"x": {"kind": "nonsense"}}}, "nonsense"),
    ({"size": "huge"}, "config.size"),
    ({"sizes": {"smoke": {"kinds": {"rpca_alpha": {"p": 2}}}}, "size": "smoke"}, "sweeps.rpca_alpha.p"),
    ({"figures": {"f": {"plot": "alpha_sweep", "sweeps": ["missing"]}}}, "figures.f.sweeps"),
]


@pytest.mark.parametrize("change,key", BAD)
def test_invalid_values_name_the_key(base_config, schema, change, key):
    with pytest.raises(ConfigError) as err:
        validate_config(deep_merge(copy.deepcopy(base_config), change), schema)
    assert key in str(err.value)


def test_out_of_range_message_states_allowed_range(base_config, schema):
    with pytest.raises(ConfigError) as err:
        validate_config(deep_merge(base_config, {"sweeps": {"rpca_alpha": {"p": 1.5}}}), schema)
    assert "[0, 1]" in str(err.value)


def test_bad_config_stops_workflow_before_any_job(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("sweeps:\n  rpca_alpha:\n    p: 1.5\n")
    proc = run_snakemake(tmp_path, "--configfile", str(overlay), "--cores", "1", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "sweeps.rpca_alpha.p" in text and "1.5" in text
    assert not (tmp_path / "results").exists()


def test_grid_helpers():
    assert short_number(7.0710678) == "7.071"
    assert short_number(20.0) == "20"
    assert short_number(1e-5) == "1e-05"
    grid = log_grid(1, 100, 5)
    assert grid == [1.0, 3.16, 10.0, 31.6, 100.0]
