"""How far do a run's numbers move when only the floating-point rounding changes?

Runs some jobs of some sweeps in this process, with a chosen number of torch threads, and
writes their tables as a run folder (``OUT/results/<sweep>/summary.csv`` and ``curves.csv``)
that ``python -m implicit_bias.compare`` reads. Rerunning the same jobs with another thread
count, or with the CPU kernels narrowed by environment variables, changes the order of the
floating-point reductions (BLAS, ATen's vectorized loops, oneDNN's convolutions) the way
another CPU does, and nothing else::

    python benchmarks/rounding_check.py OUT --sweeps rpca_curves sensing_init [--threads 1]
        [--jobs 'method~mf*'] [--size quick]
    ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 \\
        python benchmarks/rounding_check.py OUT2 --sweeps rpca_curves
    python -m implicit_bias.compare OUT2 OUT

The tolerances of :mod:`implicit_bias.compare` were set from such runs (its docstring says
which).
"""

from __future__ import annotations

import argparse
import fnmatch
import tempfile
from pathlib import Path

from implicit_bias.config import load_schema, load_yaml, validate_config
from implicit_bias.experiments import registry, run_job, sweep_jobs
from implicit_bias.records import concat_tables, write_table

REPO = Path(__file__).resolve().parents[1]


def run_sweeps(
    out: Path, sweeps: list[str], *, size: str = "quick", jobs: str = "*", threads: int | None = None
) -> None:
    """Run the jobs of ``sweeps`` whose names match ``jobs`` and write their stacked tables.

    :param out: the run folder to write (``results/<sweep>/`` inside).
    :param size: the configuration's size to resolve the sweeps at.
    :param jobs: a shell pattern on the job names.
    :param threads: torch threads per job; None takes what the kind asks the workflow for.
    """
    reg = registry()
    config = load_yaml(REPO / "config.yaml")
    config.update(size=size, only=sweeps)
    config = validate_config(config, load_schema(REPO / "workflow/schemas/config.schema.yaml"), reg, REPO)
    for sweep, settings in config["resolved"].items():
        kind = reg.kind(settings["kind"])
        with tempfile.TemporaryDirectory() as tmp:
            summaries, curves = [], []
            for name, params in sweep_jobs(settings, kind).items():
                if not fnmatch.fnmatch(name, jobs):
                    continue
                job_threads = threads or kind.resources(settings, params)["threads"]
                job_dir = Path(tmp) / name
                run_job(
                    sweep=sweep,
                    settings=settings,
                    job=params,
                    outdir=job_dir,
                    seed=config["seed"],
                    dtype=config["dtype"],
                    device="cpu",
                    threads=job_threads,
                    module=reg.kind_module[settings["kind"]],
                    progress=False,
                )
                summaries.append(job_dir / "summary.csv")
                curves.append(job_dir / "curves.csv")
            write_table(concat_tables(summaries), out / "results" / sweep / "summary.csv")
            write_table(concat_tables(curves), out / "results" / sweep / "curves.csv")
        print(f"{sweep}: {len(summaries)} jobs")


def main(argv: list[str] | None = None) -> None:
    """``python benchmarks/rounding_check.py OUT --sweeps S [S ...] [--jobs PATTERN] [--threads N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sweeps", nargs="+", required=True)
    parser.add_argument("--size", default="quick")
    parser.add_argument("--jobs", default="*", help="shell pattern on the job names")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    run_sweeps(args.out, args.sweeps, size=args.size, jobs=args.jobs, threads=args.threads)


if __name__ == "__main__":
    main()
