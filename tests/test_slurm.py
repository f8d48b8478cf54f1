"""The workflow on a real SLURM cluster.

A single-node cluster is started on this machine (``.ci/start_slurm.sh``: munged, slurmctld,
slurmd; no cgroups, no accounting), the smoke-size robust-PCA sweeps are run through
snakemake-executor-plugin-slurm with the repository's SLURM profile, edited as the README
tells a user to, and the result tables are compared with those of a local run. Without root,
Debian's ``slurm-wlm`` and ``munge``, or the plugin, the test skips and says which is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_snakemake

START = REPO / ".ci" / "start_slurm.sh"
STOP = REPO / ".ci" / "stop_slurm.sh"
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"

SWEEPS = ("rpca_alpha", "rpca_curves")
TARGETS = [f"results/{sweep}/{table}.csv" for sweep in SWEEPS for table in ("summary", "curves")]
# The test cluster's default partition is `debug`; the profile is edited to ask for `batch`,
# so jobs found in `batch` show that the profile's partition setting reached sbatch.
PARTITION = "batch"
# Columns that may differ between two runs of the same config.
RUN_DEPENDENT = ["wall_s"]
EXECUTABLES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")


def missing_requirement() -> str | None:
    """Why a SLURM cluster cannot be started here, or None if it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "starting slurmctld and slurmd needs root"
    missing = [exe for exe in EXECUTABLES if shutil.which(exe) is None]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} not found; Debian: apt-get install slurm-wlm munge)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster: its directory (slurm.conf, logs); stopped afterwards."""
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, SLURMCTLD_PORT=str(free_port()), SLURMD_PORT=str(free_port()))
    try:
        started = subprocess.run([str(START), str(directory)], env=env, capture_output=True, text=True, timeout=180)
        if started.returncode == 2:  # the script's "cannot run here"
            pytest.skip(started.stderr.strip())
        assert started.returncode == 0, f"starting SLURM failed:\n{started.stdout}{started.stderr}"
        yield directory
    finally:
        subprocess.run([str(STOP), str(directory)], capture_output=True, timeout=120)


def edited_profile(folder: Path) -> Path:
    """The SLURM profile with its partition line uncommented and set, as the README says."""
    text = PROFILE.read_text()
    placeholder = '# slurm_partition: "<partition>"'
    assert placeholder in text, "the profile's partition placeholder moved; update this test"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(text.replace(placeholder, f'slurm_partition: "{PARTITION}"'))
    return folder


def slurm_job(job_id: str) -> dict[str, str]:
    """slurmctld's record of a job (kept for MinJobAge seconds after it ends)."""
    out = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def submissions(log: str) -> dict[str, dict[str, str]]:
    """SLURM job id -> the resources snakemake printed for the job it submitted as that id."""
    resources = {
        jobid: dict(item.split("=", 1) for item in line.split(", "))
        for jobid, line in re.findall(r"jobid: (\d+)\n(?:(?!.*jobid: ).*\n)*?\s+resources: (.*)", log)
    }
    return {
        slurm_id: resources[jobid]
        for jobid, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    }


def read_results(workdir: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for target in TARGETS:
        frame = pd.read_csv(workdir / target)
        tables[target] = frame.drop(columns=[c for c in RUN_DEPENDENT if c in frame])
    return tables


@pytest.mark.slow
def test_smoke_sweeps_through_slurm_equal_a_local_run(slurm_cluster, smoke_run, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster / "slurm.conf"))
    # The local run: the session's smoke run (conftest.smoke_run, every sweep on 2 cores),
    # which makes these tables too.

    start = time.perf_counter()
    proc = run_snakemake(
        tmp_path / "slurm",
        "--workflow-profile",
        str(edited_profile(tmp_path / "profile")),
        *TARGETS,
        # No accounting storage on the test cluster: job states from squeue, no account.
        "--slurm-status-command",
        "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--config",
        "size=smoke",
        # One sbatch job per job: the local smoke run packs each sweep's jobs into one
        # process (pack_jobs), so equal tables also show that packing changes no number.
        "pack_jobs=False",
    )
    slurm_s = time.perf_counter() - start
    log = proc.stdout + proc.stderr

    # Every compute job went through sbatch: one submission per job, each a batch job that
    # slurmctld accepted and ran to completion in the profile's partition, with the CPUs,
    # memory and time its rule declares.
    submitted = submissions(log)
    results = tmp_path / "slurm" / "results"
    jobs = [job for sweep in SWEEPS for job in (results / sweep / "jobs").iterdir()]
    assert submitted and len(submitted) == len(jobs), log[-4000:]
    ctld_log = (slurm_cluster / "log" / "slurmctld.log").read_text()
    for job_id, declared in submitted.items():
        assert f"_slurm_rpc_submit_batch_job: JobId={job_id} " in ctld_log
        job = slurm_job(job_id)
        hours, minutes = divmod(int(declared["runtime"]), 60)
        assert (job["JobState"], job["Partition"]) == ("COMPLETED", PARTITION), (job_id, job)
        assert job["NumCPUs"] == declared["cpus_per_task"], (job_id, job)
        assert job["MinMemoryNode"] == f"{declared['mem_mb']}M", (job_id, job)
        assert job["TimeLimit"] == f"{hours:02d}:{minutes:02d}:00", (job_id, job)

    # The same numbers as the local run, to the last written digit.
    local, slurm = read_results(smoke_run.path), read_results(tmp_path / "slurm")
    for target in TARGETS:
        assert len(local[target]) > 0
        pd.testing.assert_frame_equal(slurm[target], local[target], check_exact=True, obj=target)

    print(
        f"SLURM jobs {', '.join(submitted)} submitted with sbatch, all COMPLETED in partition "
        f"{PARTITION}; tables equal to the local run's. Wall time: the local smoke run (every sweep) "
        f"{smoke_run.wall_s:.0f} s, these sweeps through SLURM {slurm_s:.0f} s."
    )
