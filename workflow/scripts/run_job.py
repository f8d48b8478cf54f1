"""Run one job of a sweep; all logic lives in implicit_bias.experiments."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

import implicit_bias  # noqa: E402
from implicit_bias.experiments import run_job  # noqa: E402

# Which checkout's code this job runs (the workflow puts its own src/ first).
print(f"implicit_bias from {Path(implicit_bias.__file__).parent}")
run_job(
    **snakemake.params.job,
    outdir=Path(snakemake.output.summary).parent,
    threads=snakemake.threads,
    code=snakemake.params.code,
)
