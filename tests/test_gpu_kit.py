"""The GPU kit (``benchmarks/gpu_kit.py``) runs end to end on a CPU at a tiny size.

Three invocations, each a subprocess run from the source tree (``PYTHONPATH=src``): the
whole kit into one folder; the DOP run alone, continued in that folder, with cvxpy,
snakemake and jsonschema made unimportable; and the DOP run alone from scratch in another
folder, as long as the first two together, to check that resuming changed nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

MIB = 2**20
FORBIDDEN = ("cvxpy", "snakemake", "jsonschema")

# A grid of 3 rows of which 2 run (so the grid's time is an extrapolation), a probe shorter
# than the rows; a 64 px picture, a network of width 4; a DOP run of 12 steps, 4 per call.
TINY = [
    "--image-source",
    "skimage",
    "--image",
    "astronaut",
    "--image-size",
    "64",
    "--width",
    "4",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--budget",
    "120",
    "--phase-n",
    "10",
    "--phase-ranks",
    "1,2,3",
    "--phase-ps",
    "0.1,0.3",
    "--phase-trials",
    "2",
    "--phase-steps",
    "60",
    "--phase-probe-steps",
    "20",
    "--phase-max-rows",
    "2",
    "--image-probe-steps",
    "4",
    "--image-max-steps",
    "8",
    "--dop-steps",
    "12",
    "--dop-record-every",
    "2",
]


def _kit(out, *args, block=None):
    """Run the kit into ``out``; ``block``: a folder of modules that refuse to import, put
    first on the path."""
    path = ([str(block)] if block else []) + [str(REPO / "src")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    cmd = [sys.executable, "benchmarks/gpu_kit.py", *TINY, "--out", str(out), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gpu_kit")
    block = base / "blocked"
    block.mkdir()
    for name in FORBIDDEN:
        (block / f"{name}.py").write_text(f"raise ImportError('{name} is blocked by test_gpu_kit')\n")
    first = _kit(base / "a", "--dop-max-steps", "4")
    second = _kit(base / "a", "--parts", "dop", "--dop-max-steps", "4", block=block)
    straight = _kit(base / "b", "--parts", "dop", "--dop-max-steps", "8")
    return {"first": first, "second": second, "straight": straight, "a": base / "a", "b": base / "b"}


def test_files_few_and_small(runs):
    files = sorted(p for p in runs["a"].iterdir())
    assert all(p.is_file() for p in files), files
    names = {p.name for p in files}
    assert len(files) <= 8, names
    assert {"results.json", "summary.md", "phase_problems.csv", "dop_checkpoint.pt", "dop_checkpoint_gh.pt"} <= names
    assert all(p.stat().st_size < 16 * MIB for p in files)
    assert not any(name.endswith(".tmp") for name in names)


def test_three_parts_with_positive_rates(runs):
    parts = runs["first"]["parts"]
    assert set(parts) == {"phase", "images", "dop"}
    phase = parts["phase"]
    assert not phase["paper_size"]
    for d in phase["dtypes"].values():
        assert d["rows_run"] == 2 and d["problems_run"] == 2 * 2 * 2
        assert d["problem_steps_per_s"] > 0 and d["grid_wall_s"] > 0
        assert d["grid_wall_is_extrapolation"] and "extrapolation from 2 of 3 rows" in d["grid_wall_basis"]
    agreement = phase["agreement"]
    assert agreement["problems_in_both"] == 8
    assert agreement["verdicts_agree"] + agreement["verdicts_disagree"] == 8
    assert len(agreement["disagreements"]) == agreement["verdicts_disagree"]
    images = parts["images"]
    assert images["runs"]["fast"]["steps_per_s"] > 0 and images["runs"]["plain"]["steps_per_s"] > 0
    assert images["speedup"] == pytest.approx(
        images["runs"]["fast"]["steps_per_s"] / images["runs"]["plain"]["steps_per_s"]
    )
    dop = parts["dop"]
    assert dop["ran"] and dop["steps_done"] == 4 and dop["steps_per_s"] > 0 and not dop["resumed"]
    assert "projection" in dop["projection"]["label"]
    summary = (runs["a"] / "summary.md").read_text()
    assert "extrapolation" in summary and "Projection" in summary and runs["first"]["commit"] in summary


def test_second_invocation_resumes_exactly(runs):
    dop = runs["second"]["parts"]["dop"]
    assert dop["resumed"] and dop["steps_at_start"] == 4 and dop["steps_done"] == 8
    assert [s["to"] for s in dop["segments"]] == [4, 8]
    # The parts it did not run keep the first invocation's numbers, marked so.
    assert runs["second"]["parts"]["phase"]["carried_over_from"] == runs["first"]["created"]
    # Resumed in two calls, or run in one: the same curve and the same final state.
    straight = runs["straight"]["parts"]["dop"]
    assert straight["steps_done"] == 8 and not straight["resumed"]
    assert dop["curve"] == straight["curve"]
    for name in ("dop_checkpoint.pt", "dop_checkpoint_gh.pt"):
        a = torch.load(runs["a"] / name, map_location="cpu", weights_only=False)
        b = torch.load(runs["b"] / name, map_location="cpu", weights_only=False)
        tensors = {k: v for k, v in a.items() if isinstance(v, torch.Tensor)} | a.get("net", {})
        assert tensors
        for key, value in tensors.items():
            other = b[key] if key in b else b["net"][key]
            assert torch.equal(value, other), key


def test_needs_none_of_the_workflow_packages(runs):
    # The first run could import them and did not; the second ran with them unimportable.
    assert runs["first"]["forbidden_modules_imported"] == []
    assert runs["second"]["forbidden_modules_imported"] == []
