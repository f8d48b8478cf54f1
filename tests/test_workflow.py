"""The workflow as a user runs it: lint, dry runs of every size, a smoke run end to end."""

import pandas as pd
import pytest
from conftest import REPO, SCHEMA, run_snakemake, snakemake_exe

from implicit_bias.config import load_yaml, validate_config
from implicit_bias.tasks import figures


def _config(size):
    return validate_config(dict(load_yaml(REPO / "config.yaml"), size=size), load_yaml(SCHEMA))


def test_lint_is_clean(tmp_path):
    import subprocess

    proc = subprocess.run([snakemake_exe(), "--lint"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.parametrize("size", ["smoke", "quick", "paper"])
def test_dry_run_plans_every_figure(tmp_path, size):
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", "--config", f"size={size}")
    text = proc.stdout + proc.stderr
    cfg = _config(size)
    for name in figures(cfg):
        assert f"figures/{name}.pdf" in text, name


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path):
    run_snakemake(tmp_path, "--cores", "2", "--config", "size=smoke")
    cfg = _config("smoke")
    for name in figures(cfg):
        for ext in ("pdf", "png"):
            out = tmp_path / "figures" / f"{name}.{ext}"
            assert out.exists() and out.stat().st_size > 1000, out
    for sweep in cfg["resolved"]:
        summary = pd.read_csv(tmp_path / "results" / sweep / "summary.csv")
        assert {"sweep", "method", "trial", "seed", "wall_s", "device"} <= set(summary.columns)
        assert (summary["sweep"] == sweep).all()
    alpha = pd.read_csv(tmp_path / "results" / "rpca_alpha" / "summary.csv")
    s = cfg["resolved"]["rpca_alpha"]
    assert len(alpha) == s["trials"] * alpha["alpha"].nunique()
    # A second run has nothing to do: results survive and are reused.
    proc = run_snakemake(tmp_path, "--cores", "2", "--config", "size=smoke")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_overlay_sweep_runs_without_code(tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text(
        "sweeps:\n  alpha_n30:\n    kind: rpca_alpha\n    n: 30\n    rank: 3\n"
    )
    run_snakemake(tmp_path, "figures/alpha_n30.pdf", "--cores", "2", "--configfile", str(overlay),
                  "--config", "size=smoke")
    summary = pd.read_csv(tmp_path / "results" / "alpha_n30" / "summary.csv")
    assert set(summary["n"]) == {30} and set(summary["rank"]) == {3}
    assert (tmp_path / "figures" / "alpha_n30.png").exists()
