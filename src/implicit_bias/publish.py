"""Publish a finished run under ``docs/``: its figures, tables and scorecard, stamped with the
commit, the machine, the settings and the measured times.

``python -m implicit_bias.publish RUN_DIR DOCS_DIR --wall-s SECONDS [--name NAME]`` copies
from a workflow run made with ``--directory RUN_DIR``:

* ``figures/*.png``;
* each sweep's ``summary.csv``, and ``curves.csv`` thinned to keep every file under 5 MB
  (every k-th recorded iteration of each curve, the first and last always kept);
* ``results/scorecard.md`` and ``.csv``;
* ``compare.md`` and ``compare_brief.md`` where the run folder has them: the run against the
  one published before it (``python -m implicit_bias.compare``);
* ``run.md``: the commit, the machine, the package versions, the size and sweeps, and
  where the time went: the wall time, the summed time of the jobs (Snakemake's own
  benchmark of each job, start-up included) and their summed compute (the tables'
  ``wall_s``, weighted by the cores each job kept busy), so that start-up and scheduling
  overhead can be read off.

It writes nothing but those files; the folder is emptied first so no stale file survives.
``summary.md`` there is the run in brief (times, the scorecard's verdicts), for the README;
``brief.md`` is its first paragraph (the times and the count of claims that hold).

``python -m implicit_bias.publish rescore DOCS_DIR [--configfile F ...] [--size S] [--only SWEEP ...]`` judges a
published run's tables again with the checkout's claims (its numbers and times stay).

``python -m implicit_bias.publish tests JUNIT_XML DOCS_DIR --wall-s SECONDS`` publishes a
test-suite run (``make docs-tests``): ``run.json`` and ``summary.md`` with the commit, the
machine, the counts, pytest's own time and the slowest tests, read from pytest's JUnit XML.

``python -m implicit_bias.publish readme README.md`` replaces every block of the README
between ``<!-- BEGIN path -->`` and ``<!-- END path -->`` by the file ``path`` (relative to
the README), so the README quotes the published files and is never edited by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .records import read_table, write_table
from .scorecard import markdown_cell

#: The largest file a published table may be.
MAX_BYTES = 5_000_000


def thin_curves(curves: pd.DataFrame, max_bytes: int = MAX_BYTES) -> tuple[pd.DataFrame, int]:
    """Every k-th recorded iteration of each curve, the smallest k that fits ``max_bytes``.

    :returns: the thinned table and k (1: unchanged).
    """
    if curves.empty or "iteration" not in curves:
        return curves, 1
    size = len(curves.to_csv(index=False, float_format="%.10g"))
    k = 1
    while size / k > 0.9 * max_bytes:
        k += 1
    if k == 1:
        return curves, 1
    its = sorted(curves["iteration"].unique())
    keep = set(its[::k]) | {its[0], its[-1]}
    return curves[curves["iteration"].isin(keep)], k


def _commit(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cores(n: int) -> str:
    return "1 core" if n == 1 else f"{n} cores"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores available, {platform.system()} {platform.release()}"


def _versions() -> str:
    import numpy
    import scipy
    import torch

    return (
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}"
    )


def job_times(run: Path, cores: int = 1) -> dict:
    """Where a run's time went, from its tables and Snakemake's job benchmarks.

    :param cores: the cores the run had (a job cannot have kept more busy).
    :returns: ``jobs`` (number of benchmarked jobs), ``jobs_s`` (their summed wall time,
        start-up included), ``compute_s`` (the summed ``wall_s`` of the compute jobs, each
        job once; shared jobs not counted) and ``compute_core_s``: each compute job's
        ``wall_s`` times the cores it kept busy (its benchmark's CPU time over its wall time,
        between 1 and ``cores``), so that a two-thread job counts twice.
    """
    jobs = sorted((run / "logs").rglob("*.benchmark.tsv"))
    jobs_s = sum(float(pd.read_csv(p, sep="\t")["s"].iloc[0]) for p in jobs)
    compute = compute_core = 0.0
    for summary in (run / "results").glob("*/jobs/*/summary.csv"):
        table = read_table(summary)
        if table.empty or ("shared_from" in table and table["shared_from"].notna().any()):
            continue
        seconds = float(table["wall_s"].iloc[0])
        busy = 1.0
        bench = run / "logs" / summary.parents[2].name / f"{summary.parent.name}.benchmark.tsv"
        if bench.exists():
            row = pd.read_csv(bench, sep="\t").iloc[0]
            if "cpu_time" in row and float(row["s"]) > 0:
                busy = min(float(cores), max(1.0, float(row["cpu_time"]) / float(row["s"])))
        compute += seconds
        compute_core += seconds * busy
    return {"jobs": len(jobs), "jobs_s": jobs_s, "compute_s": compute, "compute_core_s": compute_core}


def time_by_group(run: Path) -> list[dict]:
    """Snakemake's job benchmarks summed by sweep (and by method, where a job's job names
    one), largest first: ``group``, ``jobs``, ``wall_s`` and ``cpu_s``."""
    groups: dict[str, list[float]] = {}
    for bench in (run / "logs").rglob("*.benchmark.tsv"):
        row = pd.read_csv(bench, sep="\t").iloc[0]
        job = bench.name.removesuffix(".benchmark.tsv")
        group = job if bench.parent == run / "logs" else bench.parent.name
        # The local rules (implicit_bias.local_rules: tables, figures, scorecard) run in the
        # Snakemake process, whose CPU time their benchmarks measure whole: not reported.
        in_process = job in ("aggregate", "scorecard") or group == "figures"
        if job == "aggregate":
            group += " (tables)"
        elif job.startswith("method~"):
            group += f" ({job.split('_', 1)[0].removeprefix('method~')})"
        g = groups.setdefault(group, [0, 0.0, 0.0, in_process])
        g[0] += 1
        g[1] += float(row["s"])
        g[2] += float(row["cpu_time"]) if "cpu_time" in row else float("nan")
    rows = [
        {"group": k, "jobs": v[0], "wall_s": round(v[1], 1), "cpu_s": None if v[3] else round(v[2], 1)}
        for k, v in groups.items()
    ]
    return sorted(rows, key=lambda r: -r["wall_s"])


def publish(run: Path, docs: Path, *, wall_s: float, name: str, repo: Path, cores: int) -> None:
    """Copy a finished run's outputs to ``docs`` (see the module docstring)."""
    commit = _commit(repo)  # before ``docs`` is rewritten, which would make a clean checkout dirty
    if docs.exists():
        shutil.rmtree(docs)
    (docs / "figures").mkdir(parents=True)
    for png in sorted((run / "figures").glob("*.png")):
        shutil.copyfile(png, docs / "figures" / png.name)
    thinned = {}
    for sweep_dir in sorted(p for p in (run / "results").iterdir() if p.is_dir()):
        out = docs / "results" / sweep_dir.name
        out.mkdir(parents=True)
        shutil.copyfile(sweep_dir / "summary.csv", out / "summary.csv")
        curves, k = thin_curves(read_table(sweep_dir / "curves.csv"))
        write_table(curves, out / "curves.csv")
        if k > 1:
            thinned[sweep_dir.name] = k
    for ext in ("md", "csv"):
        shutil.copyfile(run / "results" / f"scorecard.{ext}", docs / f"scorecard.{ext}")
    # The run against the one it replaces here (make's published runs write these).
    for report in ("compare.md", "compare_brief.md"):
        if (run / report).exists():
            shutil.copyfile(run / report, docs / report)
    times = job_times(run, cores)
    overhead = 1.0 - times["compute_core_s"] / cores / wall_s if wall_s > 0 else float("nan")
    facts = {
        "run": name,
        "commit": commit,
        "machine": _machine(),
        "versions": _versions(),
        "cores": cores,
        "wall_s": round(wall_s, 1),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in times.items()},
        "overhead_share": round(overhead, 3),
        "curves_thinned": thinned,
        "jobs_by_group": time_by_group(run),
    }
    (docs / "run.json").write_text(json.dumps(facts, indent=2) + "\n")
    (docs / "run.md").write_text(_run_text(facts))
    _write_summary(facts, read_table(run / "results" / "scorecard.csv"), docs)


def _write_summary(facts: dict, card: pd.DataFrame, docs: Path) -> None:
    """``summary.md`` (the times and every verdict) and ``brief.md`` (its first paragraph)."""
    summary = _summary_text(facts, card, docs)
    (docs / "summary.md").write_text(summary)
    (docs / "brief.md").write_text(summary.split("\n\n")[0] + "\n")


def _summary_text(f: dict, card: pd.DataFrame, docs: Path) -> str:
    """The run in brief: where it is, its times, and each claim's verdict."""
    counts = card["holds"].value_counts()
    judged = int(counts.get("yes", 0) + counts.get("no", 0))
    lines = [
        f"Commit `{f['commit']}`"
        + (f" (scorecard judged at `{f['scorecard_commit']}`)" if f.get("scorecard_commit") else "")
        + f", {_cores(f['cores'])} ({f['machine'].split(',')[0]}): "
        f"**{f['wall_s'] / 60:.1f} min** of wall time from empty results, {f['jobs']} jobs; "
        f"start-up, scheduling and idle cores {100 * f['overhead_share']:.0f}% of it. "
        f"**{int(counts.get('yes', 0))} of {judged} judged claims hold**"
        + "".join(f"; {int(n)} {v}" for v, n in counts.items() if v not in ("yes", "no"))
        + f". Files: `{docs.as_posix()}/` (scorecard, tables, figures, run.md).",
        "",
        "| claim | ours | holds |",
        "|---|---|---|",
    ]
    for _, row in card.iterrows():
        claim, ours, holds = (markdown_cell(row[c]) for c in ("claim", "ours", "holds"))
        lines.append(f"| {claim} ({row['sweep']}) | {ours} | {holds} |")
    return "\n".join(lines) + "\n"


def rescore(docs: Path, config: dict, *, repo: Path) -> pd.DataFrame:
    """Judge a published run's tables again with this checkout's claims, and rewrite its
    ``scorecard.md``/``.csv`` and ``summary.md``; its tables, figures and measured times stay.

    For claims that changed after a run was published (a new "no data" rule, a threshold
    stated differently): no number is recomputed, only the verdicts read from the tables.
    ``run.json`` records the commit the scorecard was judged at beside the run's own.

    :param config: the run's configuration (``config.yaml`` with the run's overlays and
        size), validated here.
    :returns: the new scorecard.
    """
    from .config import load_schema, validate_config
    from .experiments import figures, registry
    from .fingerprint import kind_fingerprint
    from .scorecard import scorecard, write_scorecard

    reg = registry()
    config = validate_config(config, load_schema(), reg)
    sweeps = {s: v for s, v in config["resolved"].items() if (docs / "results" / s / "summary.csv").exists()}
    missing = sorted(set(config["resolved"]) - set(sweeps))
    if missing:
        raise SystemExit(f"rescore: {docs} has no tables of {', '.join(missing)}")
    tables = {s: {t: read_table(docs / "results" / s / f"{t}.csv") for t in ("summary", "curves")} for s in sweeps}
    card = scorecard(config["size"], sweeps, tables, reg.claims, figures(config))
    code = {s: kind_fingerprint(reg.kind(v["kind"])) for s, v in sweeps.items()}
    commit = _commit(repo)
    write_scorecard(card, tables, csv=docs / "scorecard.csv", md=docs / "scorecard.md", commit=commit, code=code)
    facts = json.loads((docs / "run.json").read_text())
    facts["scorecard_commit"] = commit
    (docs / "run.json").write_text(json.dumps(facts, indent=2) + "\n")
    _write_summary(facts, card, docs)
    return card


def update_readme(readme: Path) -> list[str]:
    """Replace each ``<!-- BEGIN path -->`` ... ``<!-- END path -->`` block of ``readme`` by
    the file at ``path`` (relative to the README). :returns: the paths filled in."""
    text = readme.read_text()
    pattern = re.compile(r"(<!-- BEGIN (?P<path>\S+) -->\n)(.*?)(<!-- END (?P=path) -->)", re.S)
    filled = []

    def fill(m: re.Match) -> str:
        filled.append(m["path"])
        return m[1] + (readme.parent / m["path"]).read_text() + m[4]

    readme.write_text(pattern.sub(fill, text))
    return filled


def _run_text(f: dict) -> str:
    thinned = (
        "; ".join(f"{s}: every {k}th recorded iteration" for s, k in f["curves_thinned"].items())
        if f["curves_thinned"]
        else "none"
    )
    return (
        f"# {f['run']}\n\n"
        f"- Commit: `{f['commit']}`\n"
        f"- Machine: {f['machine']}\n"
        f"- Software: {f['versions']}\n"
        f"- Wall time: {f['wall_s']:.0f} s ({f['wall_s'] / 60:.1f} min) on {_cores(f['cores'])}, from empty results\n"
        f"- Jobs: {f['jobs']}, their summed wall time (Snakemake's benchmark of each, start-up included) "
        f"{f['jobs_s']:.0f} s; the compute jobs' own time (the tables' `wall_s`) {f['compute_s']:.0f} s, "
        f"{f['compute_core_s']:.0f} core-seconds (each job's time by the cores it kept busy)\n"
        f"- Start-up, scheduling and idle cores: {100 * f['overhead_share']:.0f}% of the wall time "
        f"(1 - compute core-seconds / {_cores(f['cores'])} / wall time)\n"
        f"- Curves thinned to stay under 5 MB per file: {thinned}\n\n"
        "Where the jobs' time went (Snakemake's benchmark of each job, summed; CPU s blank for "
        "the tables, figures and scorecard, which run inside the Snakemake process, whose CPU "
        "time their benchmarks measure whole):\n\n"
        "| jobs of | jobs | wall s | CPU s |\n|---|---|---|---|\n"
        + "".join(
            f"| {r['group']} | {r['jobs']} | {r['wall_s']:.0f} | "
            + ("" if r["cpu_s"] is None else f"{r['cpu_s']:.0f}")
            + " |\n"
            for r in f.get("jobs_by_group", [])
        )
    )


def publish_tests(junit: Path, docs: Path, *, wall_s: float, repo: Path, cores: int, slowest: int = 8) -> dict:
    """Publish a test-suite run from pytest's JUnit XML (``--junitxml``): ``run.json`` and
    ``summary.md`` in ``docs`` (emptied first).

    :param wall_s: the command's wall time (set-up and collection included).
    :param slowest: how many of the slowest tests to list.
    :returns: the facts written to ``run.json``.
    """
    import xml.etree.ElementTree as ET

    commit = _commit(repo)
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = [c for suite in suites for c in suite.iter("testcase")]
    if not cases:
        raise SystemExit(f"publish tests: {junit} holds no test case")

    def outcome(case) -> str:
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                return {"failure": "failed", "error": "errors", "skipped": "skipped"}[tag]
        return "passed"

    counts = {k: 0 for k in ("passed", "failed", "errors", "skipped")}
    for case in cases:
        counts[outcome(case)] += 1
    times = sorted(
        ((float(c.get("time", 0)), f"{c.get('classname', '')}::{c.get('name', '')}") for c in cases), reverse=True
    )
    facts = {
        "run": "The test suite (make test)",
        "commit": commit,
        "machine": _machine(),
        "versions": _versions(),
        "cores": cores,
        "wall_s": round(wall_s, 1),
        "pytest_s": round(sum(float(s.get("time", 0)) for s in suites), 1),
        "tests": len(cases),
        **counts,
        "slowest": [{"test": name, "s": round(t, 1)} for t, name in times[:slowest]],
    }
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    (docs / "run.json").write_text(json.dumps(facts, indent=2) + "\n")
    brief = (
        f"Commit `{commit}`, {cores} cores ({facts['machine'].split(',')[0]}): the test suite, {len(cases)} tests "
        f"({counts['passed']} passed, {counts['skipped']} skipped, {counts['failed']} failed, "
        f"{counts['errors']} errors), **{facts['pytest_s'] / 60:.1f} min** of pytest time "
        f"({facts['wall_s']:.0f} s of wall time, start-up included)."
    )
    (docs / "brief.md").write_text(brief + "\n")
    lines = [
        f"{brief} The slowest:",
        "",
        "| test | s |",
        "|---|---|",
        *(f"| `{t['test']}` | {t['s']:.1f} |" for t in facts["slowest"]),
    ]
    (docs / "summary.md").write_text("\n".join(lines) + "\n")
    return facts


def _tests_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m implicit_bias.publish tests", description=publish_tests.__doc__)
    parser.add_argument("junit", type=Path, help="pytest's --junitxml file")
    parser.add_argument("docs", type=Path, help="where to publish it (emptied first)")
    parser.add_argument("--wall-s", type=float, required=True, help="the command's measured wall time")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[2]
    facts = publish_tests(args.junit, args.docs, wall_s=args.wall_s, repo=repo, cores=args.cores)
    print(f"published the test run ({facts['tests']} tests, {facts['pytest_s']:.0f} s) to {args.docs}")


def _rescore_main(argv: list[str]) -> None:
    from .config import deep_merge, load_yaml

    parser = argparse.ArgumentParser(prog="python -m implicit_bias.publish rescore", description=rescore.__doc__)
    parser.add_argument("docs", type=Path, help="a published run (docs/paper, ...)")
    parser.add_argument("--configfile", nargs="*", default=[], help="the run's overlays, as snakemake's --configfile")
    parser.add_argument("--size", default=None, help="the run's size (default: the configuration's)")
    parser.add_argument("--only", nargs="*", default=None, help="the sweeps the run ran, as the configuration's only:")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[2]
    config = load_yaml(repo / "config.yaml")
    for overlay in args.configfile:
        config = deep_merge(config, load_yaml(overlay))
    if args.size:
        config["size"] = args.size
    if args.only:
        config["only"] = args.only
    card = rescore(args.docs, config, repo=repo)
    print(f"rescored {args.docs}: " + ", ".join(f"{n} {v}" for v, n in card["holds"].value_counts().items()))


def main(argv: list[str] | None = None) -> None:
    """``python -m implicit_bias.publish RUN_DIR DOCS_DIR --wall-s S --name NAME [--cores N]``,
    ``python -m implicit_bias.publish rescore DOCS_DIR [--configfile F ...] [--size S] [--only SWEEP ...]``,
    ``python -m implicit_bias.publish tests JUNIT_XML DOCS_DIR --wall-s S``, or
    ``python -m implicit_bias.publish readme README.md``."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    if argv[:1] == ["rescore"]:
        _rescore_main(argv[1:])
        return
    if argv[:1] == ["tests"]:
        _tests_main(argv[1:])
        return
    if argv[:1] == ["readme"]:
        readme = Path(argv[1] if len(argv) > 1 else "README.md")
        print(f"{readme}: filled {', '.join(update_readme(readme)) or 'nothing'}")
        return
    parser = argparse.ArgumentParser(prog="python -m implicit_bias.publish", description=main.__doc__)
    parser.add_argument("run", type=Path, help="the run's --directory")
    parser.add_argument("docs", type=Path, help="where to publish it (emptied first)")
    parser.add_argument("--wall-s", type=float, required=True, help="the run's measured wall time")
    parser.add_argument("--name", required=True, help="a title for run.md")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[2]
    publish(args.run, args.docs, wall_s=args.wall_s, name=args.name, repo=repo, cores=args.cores)
    print(f"published {args.run} to {args.docs}")


if __name__ == "__main__":
    main()
