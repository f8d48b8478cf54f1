"""The guide "Adding an experiment family" (docs/adding_a_family.md), built and run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, copy_checkout, snakemake_exe

GUIDE = REPO / "docs" / "adding_a_family.md"
BLOCK = re.compile(r"```\w+ file=(?P<file>\S+)(?: mode=(?P<mode>\S+))?\n(?P<body>.*?)```", re.S)


def guide_blocks() -> list[tuple[str, str | None, str]]:
    return [(m["file"], m["mode"], m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def apply_block(root, file: str, mode: str | None, body: str) -> None:
    path = root / file
    if mode is None:
        assert not path.exists(), f"the guide creates {file}, which exists already"
        path.write_text(body)
    elif mode == "append":
        path.write_text(path.read_text().rstrip("\n") + "\n" + body)
    elif mode.startswith("after:"):
        line = re.compile(rf"^{re.escape(mode.removeprefix('after:'))}\n", re.M)
        text = path.read_text()
        assert len(line.findall(text)) == 1, f"{file} must hold the line {mode} once"
        path.write_text(line.sub(lambda m: m[0] + body, text))
    else:
        raise ValueError(f"unknown mode {mode!r}")


def test_the_guide_touches_four_files():
    files = {file for file, _, _ in guide_blocks()}
    assert len(files) == 4, files


@pytest.mark.slow
def test_the_guide_builds_a_family_that_runs(tmp_path):
    repo = copy_checkout(tmp_path / "repo")
    for block in guide_blocks():
        apply_block(repo, *block)
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/test_hadamard.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    run = subprocess.run(
        [snakemake_exe(), "--cores", "2", "--config", "size=smoke", "only=[hadamard_l1]"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (repo / "figures" / "hadamard_l1.png").stat().st_size > 1000
    summary = pd.read_csv(repo / "results" / "hadamard_l1" / "summary.csv")
    assert set(summary["init_scale"]) == {1e-1, 1e-2, 1e-3, 1e-4} and summary["code"].nunique() == 1
    card = pd.read_csv(repo / "results" / "scorecard.csv")
    assert card.set_index("claim_id").loc["hadamard_l1:min_l1", "holds"] == "yes"
    lint = subprocess.run([snakemake_exe(), "--lint"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-2000:]
