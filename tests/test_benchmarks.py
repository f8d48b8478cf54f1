"""The benchmark scripts run end to end on tiny workloads and report consistent numbers.

These check that the scripts work and that their ratios are the quotients of their own
rates; they time nothing worth comparing (speed is the scripts' business, not the tests')."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO


def _run(args, tmp_path):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_bench_rpca_runs_and_reports_its_own_ratios(tmp_path):
    out = tmp_path / "rpca.json"
    stdout = _run(
        [
            "benchmarks/bench_rpca.py",
            str(out),
            "--threads",
            "2",
            "--trials",
            "1",
            "--steps",
            "3",
            "--apg-iters",
            "2",
            "--loop-trials",
            "2",
            "--repeats",
            "1",
        ],
        tmp_path,
    )
    report = json.loads(out.read_text())
    assert report["workload"]["batch"] == 25
    for dtype in ("float64", "float32"):
        d, a = report["results"][dtype]["dop"], report["results"][dtype]["apg"]
        assert d["trial_steps_per_s"] > 0 and d["numpy_loop_trial_steps_per_s"] > 0
        assert d["speedup_vs_numpy_loop"] == pytest.approx(d["trial_steps_per_s"] / d["numpy_loop_trial_steps_per_s"])
        assert d["fraction_of_roofline"] == pytest.approx(d["trial_steps_per_s"] / d["roofline_trial_steps_per_s"])
        assert d["meets_target"] == (d["speedup_vs_numpy_loop"] >= 5)
        assert a["speedup_vs_numpy_loop"] == pytest.approx(
            a["trial_iterations_per_s"] / a["numpy_loop_trial_iterations_per_s"]
        )
        fastest = max(a["numpy_loop_1_blas_thread_rate"], a["numpy_loop_trial_iterations_per_s"])
        assert a["speedup_vs_fastest_numpy_loop"] == pytest.approx(a["trial_iterations_per_s"] / fastest)
    assert "below the 5x target" in stdout or "meets the 5x target" in stdout


def test_bench_images_runs_on_cpu(tmp_path):
    out = tmp_path / "images.json"
    _run(
        [
            "benchmarks/bench_images.py",
            "--source",
            "skimage",
            "--image",
            "astronaut",
            "--size",
            "64",
            "--width",
            "4",
            "--steps",
            "4",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["shape"] == [64, 64]
    fast, plain = result["runs"]["fast"], result["runs"]["plain"]
    assert result["speedup"] == pytest.approx(fast["steps_per_s"] / plain["steps_per_s"])


def _phase_rows(errors: dict, seconds: float) -> pd.DataFrame:
    rows = [
        {"method": "dop", "rank": r, "p": p, "trial": t, "seed": 1000 * r + t, "rel_err_X": e, "success": e < 0.1}
        | {"cell": f"method~dop_rank~{r}", "wall_s": seconds}
        for (r, p, t), e in errors.items()
    ]
    return pd.DataFrame(rows)


def test_dtype_check_counts_flips_by_their_distance_to_the_threshold(tmp_path):
    f64 = {(1, 0.1, 0): 0.01, (1, 0.1, 1): 0.0995, (2, 0.3, 0): 0.05, (2, 0.3, 1): 0.5}
    f32 = {(1, 0.1, 0): 0.0102, (1, 0.1, 1): 0.1004, (2, 0.3, 0): 0.2, (2, 0.3, 1): 0.5}
    a, b = tmp_path / "f64.csv", tmp_path / "f32.csv"
    _phase_rows(f64, 10.0).to_csv(a, index=False)
    _phase_rows(f32, 5.0).to_csv(b, index=False)
    stdout = _run(["benchmarks/dtype_check.py", str(a), str(b), str(tmp_path / "out")], tmp_path)
    # Two flips: (1, 0.1, 1) within 1e-3 of the threshold, (2, 0.3, 0) far from it.
    assert "that differ: 2, of which 1 farther than 0.001" in stdout
    assert "Cells (rank, p) whose success fraction differs: 2 of 2" in stdout
    assert "max 1.50e-01" in stdout and "(2.00x)" in stdout
    assert "float64 stays" in stdout
    flips = (tmp_path / "out" / "disagreements.csv").read_text().splitlines()
    assert len(flips) == 3


def test_dtype_check_refuses_runs_on_different_problems(tmp_path):
    a, b = tmp_path / "f64.csv", tmp_path / "f32.csv"
    _phase_rows({(1, 0.1, 0): 0.01}, 1.0).to_csv(a, index=False)
    other = _phase_rows({(1, 0.1, 0): 0.01}, 1.0)
    other["seed"] += 1
    other.to_csv(b, index=False)
    proc = subprocess.run(
        [sys.executable, "benchmarks/dtype_check.py", str(a), str(b), str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "seeds differ" in proc.stderr
