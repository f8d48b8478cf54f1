"""Run one job (a cell of a sweep); all logic lives in implicit_bias.tasks."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)
# The package is importable from the checkout, installed or not.
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from implicit_bias.tasks import run_cell  # noqa: E402

job = snakemake.params.job
run_cell(
    sweep=job["sweep"],
    settings=job["settings"],
    cell=job["cell"],
    outdir=Path(snakemake.output.summary).parent,
    seed=job["seed"],
    device=job["device"],
    dtype=job["dtype"],
    threads=snakemake.threads,
)
