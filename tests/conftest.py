"""Shared test fixtures: repository paths, devices, a smoke-size workflow runner, and one
smoke-size run shared by the tests that read one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = REPO / "config.yaml"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def snakemake_exe() -> str:
    """The snakemake beside this interpreter (the project's venv), else on PATH."""
    local = Path(sys.executable).with_name("snakemake")
    return str(local) if local.exists() else (shutil.which("snakemake") or "snakemake")


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run snakemake on this repository's Snakefile (and config.yaml) with outputs under ``workdir``.

    Overlays go in one ``--configfile a.yaml b.yaml`` argument: a second ``--configfile``
    flag would replace the first.
    """
    cmd = [snakemake_exe(), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; torch sees none")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


def copy_checkout(dest: Path) -> Path:
    """The files of this checkout that git tracks or would track, as they are now, in ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    return dest


def stand_in_images(folder: Path) -> Path:
    """Images named like the paper's four (not them: no checksums), so paper-size plans pass
    the check that the configured images exist."""
    import numpy as np
    import skimage.io

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("F16", "Peppers", "Baboon", "kodim03"):
        skimage.io.imsave(folder / f"{name}.png", np.zeros((512, 512, 3), np.uint8), check_contrast=False)
    return folder


@pytest.fixture
def schema():
    from implicit_bias.config import load_yaml

    return load_yaml(SCHEMA)


@pytest.fixture
def base_config():
    from implicit_bias.config import load_yaml

    return load_yaml(CONFIG)


#: The README's example of a sweep added without code; the shared smoke run has it too.
README_SWEEP = "sweeps:\n  rpca_alpha_n100:\n    kind: rpca_alpha\n    n: 100\n    rank: 10\n"


@dataclass(frozen=True)
class SmokeRun:
    """A finished smoke-size run, from empty results: config.yaml at size smoke plus the
    README's added sweep (``overlay``), on 2 cores.

    :ivar path: the run's folder. Tests read it and never write to it: a test that runs
        snakemake on it runs it on a :meth:`copy`.
    :ivar overlay: the configuration file with the added sweep.
    :ivar wall_s: the run's wall time.
    """

    path: Path
    overlay: Path
    wall_s: float

    def copy(self, dest: Path) -> Path:
        """The run's folder copied to ``dest``, file times kept, so snakemake finds it up to date."""
        shutil.copytree(self.path, dest, symlinks=True)
        return dest


def _session_folder(tmp_path_factory) -> Path:
    """A folder of this test session that all its pytest-xdist workers share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> SmokeRun:
    """The smoke run (:class:`SmokeRun`), made once per test session: the first worker that
    asks for it runs it while the others wait for it, and all of them read the same folder."""
    shared = _session_folder(tmp_path_factory) / "smoke_run"
    shared.mkdir(exist_ok=True)
    overlay, facts = shared / "my_sweeps.yaml", shared / "facts.json"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not facts.exists():
            overlay.write_text(README_SWEEP)
            start = time.perf_counter()
            proc = run_snakemake(
                shared / "run", "--cores", "2", "--configfile", str(overlay), "--config", "size=smoke", check=False
            )
            facts.write_text(
                json.dumps(
                    {
                        "returncode": proc.returncode,
                        "wall_s": time.perf_counter() - start,
                        "output": proc.stdout[-4000:] + proc.stderr[-4000:],
                    }
                )
            )
    made = json.loads(facts.read_text())
    if made["returncode"] != 0:
        raise AssertionError(f"the shared smoke run failed ({made['returncode']}):\n{made['output']}")
    return SmokeRun(shared / "run", overlay, made["wall_s"])
