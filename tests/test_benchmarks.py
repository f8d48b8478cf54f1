"""The benchmark scripts run end to end on tiny workloads and report consistent numbers.

These check that the scripts work and that their ratios are the quotients of their own
rates; they time nothing worth comparing (speed is the scripts' business, not the tests')."""

from __future__ import annotations

import json
import subprocess
import sys

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
