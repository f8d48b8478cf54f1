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


def _own_rate(t):
    """A side's rate from its own steps and best seconds, as bench_rpca's docstring defines it."""
    if t.get("marginal"):
        return t["problems"] * (t["k"] - t["base_k"]) / (t["seconds"] - t["base_seconds"])
    return t["problems"] * t["k"] / t["seconds"]


def _roofline(products):
    """Problem-steps/s from the fastest way of each product, U U^T and T U."""
    return 1 / sum(1 / max(ways.values()) for ways in products.values())


def test_bench_rpca_runs_and_reports_its_own_ratios(tmp_path):
    out = tmp_path / "rpca.json"
    row = ["--trials", "1", "--steps", "3", "--apg-iters", "2", "--loop-trials", "3", "--repeats", "1"]
    table = ["--sizes", "8", "--batches", "1", "3", "--dtypes", "float64", "--cell-seconds", "0.02"]
    table += ["--cell-repeats", "1", "--min-steps", "2"]
    table += ["--markdown", str(tmp_path / "scaling.md"), "--figure", str(tmp_path / "scaling")]
    stdout = _run(["benchmarks/bench_rpca.py", str(out), "--threads", "2", *row, *table], tmp_path)
    report = json.loads(out.read_text())
    for key in ("cpu_model", "cores_available", "torch", "numpy", "numpy_blas", "commit", "wall_s"):
        assert key in report["machine"], key
    assert report["workload"]["batch"] == 25
    # The process loops: P x ceil(m / P) = 4 problems, 2 in each one-thread worker.
    assert report["workload"]["process_loop_problems"] == [2, 2]
    one = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    assert report["machine"]["worker_blas_env"] == [one, one]
    for dtype in ("float64", "float32"):
        res = report["results"][dtype]
        d, a, t = res["dop"], res["apg"], res["timings"]
        for name, side in t.items():
            assert side["rate"] > 0 and side["rate"] == pytest.approx(_own_rate(side)), name
        e, lo, pr = d["trial_steps_per_s"], d["numpy_loop_trial_steps_per_s"], d["process_loops_trial_steps_per_s"]
        assert (e, lo, pr) == (t["dop/engine"]["rate"], t["dop/loop"]["rate"], t["dop/process_loops"]["rate"])
        assert d["speedup_vs_numpy_loop"] == pytest.approx(e / lo)
        assert d["speedup_vs_process_loops"] == pytest.approx(e / pr)
        assert d["speedup_vs_fastest_numpy_loop"] == pytest.approx(e / max(lo, pr, d["numpy_loop_1_blas_thread_rate"]))
        assert d["roofline_trial_steps_per_s"] == pytest.approx(_roofline(d["roofline"]["products_per_s"]))
        assert d["fraction_of_roofline"] == pytest.approx(e / d["roofline_trial_steps_per_s"])
        assert d["meets_target"] == (d["speedup_vs_numpy_loop"] >= 5)
        # APG: the main comparison is with the loop of the same (gram) shrinkage.
        e, lo, pr = (
            a["trial_iterations_per_s"],
            a["numpy_loop_trial_iterations_per_s"],
            a["process_loops_trial_iterations_per_s"],
        )
        assert (e, lo, pr) == (t["apg/engine"]["rate"], t["apg/loop"]["rate"], t["apg/process_loops"]["rate"])
        assert a["speedup_vs_numpy_loop"] == pytest.approx(e / lo)
        assert a["speedup_vs_process_loops"] == pytest.approx(e / pr)
        assert a["speedup_vs_fastest_numpy_loop"] == pytest.approx(e / max(lo, pr, a["numpy_loop_1_blas_thread_rate"]))
        assert a["svd_variant_speedup_vs_numpy_loop"] == pytest.approx(
            t["apg/engine_svd"]["rate"] / t["apg/loop_svd"]["rate"]
        )
        assert a["shrinkage"].startswith("gram")
    assert "below the 5x target" in stdout or "meets the 5x target" in stdout

    cells = report["scaling"]["cells"]
    assert [(c["n"], c["batch"], c["dtype"]) for c in cells] == [(8, 1, "float64"), (8, 3, "float64")]
    for c in cells:
        r, q, t = c["rates"], c["ratios"], c["timings"]
        for name, side in t.items():
            assert side["rate"] > 0 and side["rate"] == pytest.approx(_own_rate(side)), name
        assert t["dop/engine"]["base_k"] == 1 and t["dop/engine"]["k"] >= 2
        assert (r["engine"], r["loop"], r["process_loops"]) == tuple(
            t[f"dop/{k}"]["rate"] for k in ("engine", "loop", "process_loops")
        )
        # Every problem of the cell on every side.
        assert (
            t["dop/engine"]["problems"] == t["dop/loop"]["problems"] == t["dop/process_loops"]["problems"] == c["batch"]
        )
        assert r["roofline"] == pytest.approx(_roofline(c["roofline"]["products_per_s"]))
        assert q["engine_over_loop"] == pytest.approx(r["engine"] / r["loop"])
        assert q["engine_over_process_loops"] == pytest.approx(r["engine"] / r["process_loops"])
        assert q["engine_over_roofline"] == pytest.approx(r["engine"] / r["roofline"])
        slower = {"<loop": r["engine"] < r["loop"], "<procs": r["engine"] < r["process_loops"]}
        assert c["misses"] == [k for k, v in slower.items() if v]
        assert c["checks"]["roofline_share_target"] is None  # no share target at n = 8
        printed = (
            f"{q['engine_over_loop']:>9.2f} {q['engine_over_process_loops']:>9.2f} {q['engine_over_roofline']:>9.2f}"
        )
        line = next(x for x in stdout.splitlines() if x.startswith(f"{8:>5} {c['batch']:>6}  float64"))
        assert printed in line
        assert c["plan"]["products"] == "torch" and c["plan"]["chunk"] <= c["batch"]  # n = 8: torch's products
    # The Markdown table and the figure, drawn from the JSON alone: one row per cell, each
    # cell below a loop baseline named with its ceiling.
    md = (tmp_path / "scaling.md").read_text()
    rows = [x for x in md.splitlines() if x.startswith("| 8 |")]
    assert len(rows) == len(cells)
    for c, row in zip(cells, rows, strict=True):
        assert f"| {c['ratios']['engine_over_loop']:.2f} |" in row
        named = f"- n = 8, batch {c['batch']}, float64 ("
        assert (named in md) == bool({"<loop", "<procs"} & set(c["misses"]))
    assert report["machine"]["commit"] in md
    assert (tmp_path / "scaling.png").stat().st_size > 0 and (tmp_path / "scaling.pdf").stat().st_size > 0
    # The brief beside it: the counts of the table, and every slow cell named.
    brief = (tmp_path / "brief.md").read_text()
    ge_loop = sum(c["checks"]["engine_ge_loop"] for c in cells)
    assert f"the NumPy loop in this process in {ge_loop} of {len(cells)} cells" in brief
    for c in cells:
        named = f"n = 8, batch {c['batch']}, float64 ("
        assert (named in brief) == bool({"<loop", "<procs"} & set(c["misses"]))


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
        | {"job": f"method~dop_rank~{r}", "wall_s": seconds}
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
    assert "Grid points (rank, p) whose success fraction differs: 2 of 2" in stdout
    assert "max 1.50e-01" in stdout and "(2.00x)" in stdout
    assert "not a safe default" in stdout
    flips = (tmp_path / "out" / "disagreements.csv").read_text().splitlines()
    assert len(flips) == 3


def test_dtype_check_compares_a_few_float64_rows_against_the_whole_float32_grid(tmp_path):
    f32 = {(r, p, t): 0.01 for r in (1, 2, 3) for p in (0.1, 0.3) for t in (0, 1)}
    f64 = {(2, p, t): 0.01 + 1e-7 for p in (0.1, 0.3) for t in (0, 1)}
    a, b = tmp_path / "f64.csv", tmp_path / "f32.csv"
    rows64 = _phase_rows(f64, 8.0)
    rows64["dtype"] = "float64"
    rows64.to_csv(a, index=False)
    rows32 = _phase_rows(f32, 2.0)
    rows32["dtype"] = "float32"
    rows32.to_csv(b, index=False)
    stdout = _run(["benchmarks/dtype_check.py", str(a), str(b), str(tmp_path / "out")], tmp_path)
    assert "Problems compared: 4, the ranks 2 of the grid" in stdout
    assert "(in the float32 run only: 8; in the float64 run only: 0)" in stdout
    # Only the job that made rank 2 counts on the float32 side: 8 s against 2 s.
    assert "float64 8 s, float32 2 s (4.00x)" in stdout
    assert "changes no verdict" in stdout
    # Tables swapped: the float64 argument ran in float32.
    assert "ran in float32, not float64" in _refused_dtype_check(b, a, tmp_path / "o")


def _refused_dtype_check(float64, float32, out) -> str:
    """dtype_check's error output, where it must refuse the tables (a nonzero exit)."""
    cmd = [sys.executable, "benchmarks/dtype_check.py", str(float64), str(float32), str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    return proc.stderr


def test_dtype_check_refuses_runs_on_different_problems(tmp_path):
    a, b = tmp_path / "f64.csv", tmp_path / "f32.csv"
    _phase_rows({(1, 0.1, 0): 0.01}, 1.0).to_csv(a, index=False)
    other = _phase_rows({(1, 0.1, 0): 0.01}, 1.0)
    other["seed"] += 1
    other.to_csv(b, index=False)
    assert "seeds differ" in _refused_dtype_check(a, b, tmp_path / "o")


def test_bench_image_cpu_reports_its_own_ratios_and_a_same_numbers_lever(tmp_path):
    out = tmp_path / "image_cpu.json"
    args = ["benchmarks/bench_image_cpu.py", "--size", "64", "--width", "4", "--levers", "channels_last,batched_noise"]
    args += ["--processes", "--rounds", "1", "--round-steps", "3", "--warmup", "0", "--out", str(out)]
    _run(args, tmp_path)
    rows = {r["path"]: r for r in json.loads(out.read_text())["rows"]}
    today = rows["today"]["steps_per_s"]
    for name in ("channels_last", "batched_noise"):
        assert rows[name]["ratio"] == pytest.approx(rows[name]["steps_per_s"] / today)
    # Drawing the perturbations in blocks takes the generator's same stream: the same numbers.
    assert rows["batched_noise"]["max_diff_after_20"] == 0.0 and rows["batched_noise"]["psnr_diff_after_20"] == 0.0
    # channels-last starts from the same network: only rounding apart before any update.
    assert 0 < rows["channels_last"]["max_diff_after_0"] < 1e-4
    pair = rows["two processes x 1 thread (total)"]
    assert pair["ratio"] == pytest.approx(pair["steps_per_s"] / rows["one process x 2 threads"]["steps_per_s"])
    assert "| two processes x 1 thread (total) |" in out.with_suffix(".md").read_text()


def test_bench_image_cpu_refuses_an_unknown_lever(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_image_cpu.py", "--levers", "warp_drive"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown levers ['warp_drive']" in proc.stderr
