"""Run one job of a sweep, or (pack_jobs) each of a sweep's jobs in turn; all logic lives
in implicit_bias.experiments."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import implicit_bias  # noqa: E402
from implicit_bias.experiments import run_job  # noqa: E402

# Which checkout's code this job runs (the workflow puts its own src/ first).
print(f"implicit_bias from {Path(implicit_bias.__file__).parent}")
if "jobs" in snakemake.params.keys():
    # A packed sweep: its jobs' folders are those of its outputs, results/<sweep>/jobs/<job>/.
    params = dict(snakemake.params.jobs)
    jobs = params.pop("jobs")
    root = Path(snakemake.output[0]).parents[1]
    for name, job in jobs.items():
        print(f"job {name}", flush=True)
        run_job(**params, job=job["job"], outdir=root / name, threads=job["threads"], code=snakemake.params.code)
else:
    run_job(
        **snakemake.params.job,
        outdir=Path(snakemake.output.summary).parent,
        threads=snakemake.threads,
        code=snakemake.params.code,
    )
