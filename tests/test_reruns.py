"""Results a user can trust after a change: code-aware reruns, jobs that run the checkout's own
code, and a run that continues after a hard kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, copy_checkout, run_snakemake, snakemake_exe

FINGERPRINTS = (
    "import json; from implicit_bias.experiments import registry; "
    "from implicit_bias.fingerprint import kind_fingerprint; "
    "r = registry(); print(json.dumps({k: kind_fingerprint(r.kind(k)) for k in sorted(r.kind_module)}))"
)


def fingerprints(checkout: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    proc = subprocess.run([sys.executable, "-c", FINGERPRINTS], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def original(checkout):
    return fingerprints(checkout)


# theory_alpha_lambda runs DOP in its own loop to stationarity (rpca_runs.dop_until_stationary).
RPCA_KINDS = {"rpca_alpha", "rpca_curves", "rpca_phase"}
CHANGES = [
    # (file, old, new, the kinds whose code changes)
    (
        "rpca.py",
        "torch.baddbmm(U, T, U, alpha=-0.5 * lr, out=U_next)",
        "torch.baddbmm(U, T, U, alpha=-0.5000001 * lr, out=U_next)",
        RPCA_KINDS,
    ),
    (
        "sensing.py",
        "U = U - (4.0 * lr) * torch.bmm(",
        "U = U - (4.0000001 * lr) * torch.bmm(",
        {"sensing_init", "sensing_restart"},
    ),
    ("apg.py", "lipschitz = 2.0", "lipschitz = 2.0000001", {"rpca_phase"}),
    (
        "image_recovery.py",
        "torch._foreach_add_(theta, grads[: len(theta)], alpha=-lr)",
        "torch._foreach_add_(theta, grads[: len(theta)], alpha=-1.0000001 * lr)",
        {"image_width", "image_gallery", "image_noise", "image_alpha"},
    ),
    (
        "theory.py",
        "lam_max = torch.linalg.eigvalsh(WL @ W.mT)[..., -1]",
        "lam_max = 1.0000001 * torch.linalg.eigvalsh(WL @ W.mT)[..., -1]",
        {"theory_weighted_min_norm"},
    ),
    # A figure's colour, a claim's wording, a comment: no experiment reruns.
    ("plotting.py", '"dop": "#d62728",', '"dop": "#ff0000",', set()),
    ("experiments/rpca.py", "relative error of $X$", "relative error of X", set()),
    ("rpca.py", "# U <- U - tau/2 (R + R^T) U", "# U <- U - (tau / 2) (R + R^T) U", set()),
]


@pytest.mark.parametrize("module,old,new,changed", CHANGES, ids=[f"{c[0]}:{sorted(c[3])}" for c in CHANGES])
def test_a_change_reaches_exactly_the_kinds_that_run_it(checkout, original, module, old, new, changed):
    path = checkout / "src" / "implicit_bias" / module
    before = path.read_text()
    try:
        edit(path, old, new)
        after = fingerprints(checkout)
    finally:
        path.write_text(before)
    assert {k for k in original if after[k] != original[k]} == changed


@pytest.mark.slow
def test_a_dry_run_plans_the_jobs_whose_code_changed(tmp_path):
    repo = copy_checkout(tmp_path / "repo")
    overlay = tmp_path / "two.yaml"
    overlay.write_text("only: [rpca_alpha, sensing_init]\n")
    args = [
        "--snakefile",
        str(repo / "Snakefile"),
        "--directory",
        str(tmp_path / "run"),
        "--cores",
        "2",
        "--configfile",
        str(overlay),
        "--config",
        "size=smoke",
    ]
    subprocess.run([snakemake_exe(), *args], capture_output=True, text=True, check=True, timeout=900)
    edit(
        repo / "src" / "implicit_bias" / "sensing.py",
        "U = U - (4.0 * lr) * torch.bmm(",
        "U = U - (4.0000001 * lr) * torch.bmm(",
    )
    plan = subprocess.run([snakemake_exe(), *args, "-n"], capture_output=True, text=True, check=True, timeout=300)
    text = plan.stdout + plan.stderr
    assert "run_sensing_init" in text and "run_rpca_alpha" not in text, text[-3000:]
    assert "Params have changed" in text
    card = (tmp_path / "run" / "results" / "scorecard.md").read_text()
    assert "Code fingerprints: rpca_alpha `" in card


@pytest.mark.slow
def test_jobs_run_the_code_of_the_checkout_that_plans_them(tmp_path):
    """A venv whose package is installed from one checkout, running another checkout's workflow."""
    other = copy_checkout(tmp_path / "other")
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            snakemake_exe(),
            "--snakefile",
            str(other / "Snakefile"),
            "--directory",
            str(run_dir),
            "--cores",
            "1",
            "--config",
            "size=smoke",
            "only=[theory_weighted_min_norm]",
            "--",
            "results/theory_weighted_min_norm/summary.csv",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (log,) = (run_dir / "logs" / "theory_weighted_min_norm").glob("rows*.log")
    assert f"implicit_bias from {other / 'src' / 'implicit_bias'}" in log.read_text()


@pytest.mark.slow
def test_a_run_continues_after_a_hard_kill(tmp_path):
    """kill -9 of snakemake leaves its lock: `--unlock`, then the same command finishes the run."""
    overlay = tmp_path / "phase.yaml"
    overlay.write_text(
        "only: [rpca_phase]\nsizes: {quick: {kinds: {rpca_phase: "
        "{n: 20, ranks: [1, 2], ps: [0.05, 0.3], trials: 2, steps: 2000, ranks_per_job: 1}}}}\n"
    )
    args = [
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "--configfile",
        str(overlay),
    ]
    proc = subprocess.Popen(
        [snakemake_exe(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    jobs = tmp_path / "results" / "rpca_phase" / "jobs"  # 6 jobs: 3 methods x 2 ranks
    deadline = time.time() + 300
    while not list(jobs.glob("*/summary.csv")) and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(jobs.glob("*/summary.csv")))
    assert 0 < done < 6
    again = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(overlay), check=False)
    assert again.returncode != 0 and "--unlock" in again.stdout + again.stderr
    run_snakemake(tmp_path, "--unlock", "--configfile", str(overlay))
    run_snakemake(tmp_path, "--cores", "1", "--configfile", str(overlay))
    assert len(list(jobs.glob("*/summary.csv"))) == 6
    assert (tmp_path / "results" / "scorecard.md").exists()


def test_packed_jobs_equal_separate_jobs(smoke_run, tmp_path):
    """pack_jobs: the smoke run's one process per sweep makes every job's tables, digit for
    digit as a process per job does, in the same folders, with one log naming each job."""
    sweep = "sensing_restart"
    run_snakemake(tmp_path, "--cores", "2", "--config", "size=smoke", "pack_jobs=False", f"only=[{sweep}]")
    packed, separate = smoke_run.path / "results" / sweep / "jobs", tmp_path / "results" / sweep / "jobs"
    names = sorted(p.name for p in separate.iterdir())
    assert names == ["method~gd", "method~restarted"] and sorted(p.name for p in packed.iterdir()) == names
    for name in names:
        for table in ("summary.csv", "curves.csv"):
            a, b = (
                pd.read_csv(root / name / table).drop(columns="wall_s", errors="ignore") for root in (packed, separate)
            )
            assert len(a) > 0
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f"{name}/{table}")
    log = (smoke_run.path / "logs" / sweep / "jobs.log").read_text()
    assert all(f"job {name}\n" in log for name in names)
    assert sorted(p.name for p in (tmp_path / "logs" / sweep).glob("method~*.log")) == [f"{n}.log" for n in names]
