"""The workflow as a user runs it: lint, dry runs of every size, a smoke run end to end."""

import json

import pandas as pd
import pytest
from conftest import README_SWEEP, REPO, SCHEMA, run_snakemake, snakemake_exe, stand_in_images

from implicit_bias.config import load_yaml, validate_config
from implicit_bias.experiments import figures


def _config(size):
    return validate_config(dict(load_yaml(REPO / "config.yaml"), size=size), load_yaml(SCHEMA))


def test_lint_is_clean(tmp_path):
    import subprocess

    proc = subprocess.run([snakemake_exe(), "--lint"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.parametrize("size", ["smoke", "quick", "paper"])
def test_dry_run_plans_every_figure(tmp_path, size):
    images = stand_in_images(tmp_path / "images")
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", "--config", f"size={size}", f"image_dir={images}")
    text = proc.stdout + proc.stderr
    cfg = _config(size)
    for name in figures(cfg):
        assert f"figures/{name}.pdf" in text, name


@pytest.mark.slow
def test_smoke_run_end_to_end_with_a_user_sweep(smoke_run, tmp_path):
    assert README_SWEEP.replace("\n", "") in (REPO / "README.md").read_text().replace("\n", "").replace("`", "")
    # The session's smoke run (conftest.smoke_run): config.yaml at size smoke plus README_SWEEP,
    # from empty results, on 2 cores.
    run, overlay = smoke_run.path, smoke_run.overlay
    cfg = _config("smoke")
    names = list(figures(cfg)) + ["rpca_alpha_n100"]
    for name in names:
        for ext in ("pdf", "png"):
            out = run / "figures" / f"{name}.{ext}"
            assert out.exists() and out.stat().st_size > 1000, out
    for sweep in list(cfg["resolved"]) + ["rpca_alpha_n100"]:
        summary = pd.read_csv(run / "results" / sweep / "summary.csv")
        assert {"sweep", "method", "trial", "seed", "wall_s", "device"} <= set(summary.columns)
        assert (summary["sweep"] == sweep).all()
    mine = pd.read_csv(run / "results" / "rpca_alpha_n100" / "summary.csv")
    assert set(mine["n"]) == {100} and set(mine["rank"]) == {10}
    assert 10.0 in set(mine["alpha"].round(6))  # sqrt(100) joins the grid
    card = pd.read_csv(run / "results" / "scorecard.csv")
    assert "rpca_alpha_n100:best_alpha" in set(card["claim_id"])
    # Smoke is too small to judge any claim of the papers: none may pass there (but the checks
    # that are exact at any size: Appendix A's limit and the toy set's points).
    papers = card[~card["claim_id"].str.contains("weighted_min_norm|sensing_toy:on_set")]
    assert set(papers["holds"]) == {"not run at this size"}
    assert (run / "results" / "scorecard.md").read_text().startswith("# Replication scorecard")
    # A second run has nothing to do: results survive and are reused (in a copy of the run,
    # which other tests read as it is).
    run = smoke_run.copy(tmp_path / "run")
    proc = run_snakemake(run, "--cores", "2", "--configfile", str(overlay), "--config", "size=smoke")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # The offline report holds every figure and the scorecard.
    run_snakemake(run, "--configfile", str(overlay), "--config", "size=smoke", "--report", "report.html")
    html = (run / "report.html").read_text()
    for name in names:
        assert name in html, name
    assert "scorecard.csv" in html


@pytest.mark.slow
def test_a_sweep_whose_every_run_diverges_is_scored_and_drawn(tmp_path):
    overlay = tmp_path / "diverging.yaml"
    overlay.write_text(
        "only: [rpca_alpha]\nsizes: {quick: {sweeps: {rpca_alpha: {lr: 1.0, alpha_num: 2, trials: 1}}}}\n"
    )
    run_snakemake(tmp_path, "--cores", "2", "--configfile", str(overlay))
    summary = pd.read_csv(tmp_path / "results" / "rpca_alpha" / "summary.csv")
    assert summary["diverged"].all()
    card = pd.read_csv(tmp_path / "results" / "scorecard.csv")
    assert set(card["holds"]) == {"diverged"}
    assert (tmp_path / "figures" / "fig2a_alpha_sweep.png").stat().st_size > 1000


def test_publish_copies_a_run_with_its_facts(tmp_path):
    from implicit_bias.publish import publish, thin_curves, update_readme

    run = tmp_path / "run"
    job = run / "results" / "s" / "jobs" / "a~1"
    job.mkdir(parents=True)
    pd.DataFrame({"sweep": ["s"], "wall_s": [3.0]}).to_csv(job / "summary.csv", index=False)
    pd.DataFrame({"sweep": ["s"], "wall_s": [3.0]}).to_csv(run / "results" / "s" / "summary.csv", index=False)
    curves = pd.DataFrame({"iteration": list(range(1000)) * 40, "x": 0.123456789})
    curves.to_csv(run / "results" / "s" / "curves.csv", index=False)
    (run / "results" / "scorecard.md").write_text("card")
    pd.DataFrame({"claim": ["c"], "sweep": ["s"], "ours": ["x"], "holds": ["yes"]}).to_csv(
        run / "results" / "scorecard.csv", index=False
    )
    (run / "figures").mkdir()
    (run / "figures" / "f.png").write_bytes(b"png")
    (run / "compare_brief.md").write_text("# run against the one before\n")
    (run / "logs" / "s").mkdir(parents=True)
    # A job that kept two cores busy (CPU time twice its wall time).
    (run / "logs" / "s" / "a~1.benchmark.tsv").write_text("s\th:m:s\tcpu_time\n4.5\t0:00:04\t9.0\n")
    # A local rule, run in the Snakemake process: its benchmark's CPU time is the process's.
    (run / "logs" / "s" / "aggregate.benchmark.tsv").write_text("s\th:m:s\tcpu_time\n0.5\t0:00:00\t30.0\n")
    docs = tmp_path / "docs"
    (docs / "stale.txt").parent.mkdir()
    (docs / "stale.txt").write_text("old")
    publish(run, docs, wall_s=10.0, name="a run", repo=REPO, cores=2)
    assert not (docs / "stale.txt").exists() and (docs / "figures" / "f.png").exists()
    assert (docs / "compare_brief.md").read_text() == "# run against the one before\n"
    assert not (docs / "compare.md").exists()
    facts = json.loads((docs / "run.json").read_text())
    assert facts["jobs"] == 2 and facts["jobs_s"] == 5.0 and facts["compute_s"] == 3.0
    assert facts["compute_core_s"] == 6.0
    assert facts["jobs_by_group"] == [
        {"group": "s", "jobs": 1, "wall_s": 4.5, "cpu_s": 9.0},
        {"group": "s (tables)", "jobs": 1, "wall_s": 0.5, "cpu_s": None},
    ]
    assert "| s | 1 | 4 | 9 |" in (docs / "run.md").read_text()
    assert "| s (tables) | 1 | 0 |  |" in (docs / "run.md").read_text()
    assert facts["overhead_share"] == pytest.approx(1 - 6.0 / 2 / 10.0)
    assert "**1 of 1 judged claims hold**" in (docs / "summary.md").read_text()
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- BEGIN docs/run.md -->\nold\n<!-- END docs/run.md -->\nrest\n")
    assert update_readme(readme) == ["docs/run.md"]
    assert readme.read_text() == "intro\n<!-- BEGIN docs/run.md -->\n" + (docs / "run.md").read_text() + (
        "<!-- END docs/run.md -->\nrest\n"
    )
    small, k = thin_curves(curves, max_bytes=100_000)
    assert k > 1 and len(small.to_csv(index=False)) < 100_000 and {0, 999} <= set(small["iteration"])


def test_the_readme_quotes_the_published_files():
    """The README's published numbers are the files' own (filled by `python -m implicit_bias.publish readme`)."""
    import re

    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->", text, re.S)
    assert blocks, "the README quotes no published file"
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        blocks = re.findall(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->", page.read_text(), re.S)
        for path, body in blocks:
            assert body == (page.parent / path).read_text(), f"{page.name}'s copy of {path} is stale: make readme"


def test_the_readme_shows_only_files_that_exist():
    """Every image and file the README links to is in the repository."""
    import re

    text = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|figures|benchmarks|configs|tests|src|workflow)/[^)\s]+)\)", text)
    assert links
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"the README links to missing files: {missing}"


@pytest.mark.skipif(not (REPO / "docs" / "default" / "run.json").exists(), reason="no published default run")
def test_rescore_judges_published_tables_again_and_keeps_the_run_facts(tmp_path):
    import shutil

    from implicit_bias.publish import rescore

    docs = tmp_path / "default"
    shutil.copytree(REPO / "docs" / "default", docs)
    before = json.loads((docs / "run.json").read_text())
    card = rescore(docs, dict(load_yaml(REPO / "config.yaml"), size="quick"), repo=REPO)
    published = pd.read_csv(REPO / "docs" / "default" / "scorecard.csv")
    assert dict(zip(card["claim_id"], card["holds"], strict=True)) == dict(
        zip(published["claim_id"], published["holds"], strict=True)
    )
    after = json.loads((docs / "run.json").read_text())
    # The run's own facts stay; only the commit the scorecard was judged at is (re)written.
    kept = [k for k in before if k != "scorecard_commit"]
    assert after["scorecard_commit"] and {k: after[k] for k in kept} == {k: before[k] for k in kept}
    summary = (docs / "summary.md").read_text()
    assert "scorecard judged at" in summary and "| nan |" not in summary
    # From the command line, for a run of some sweeps only.
    from implicit_bias.publish import main

    main(["rescore", str(docs), "--size", "quick", "--only", "rpca_alpha", "rpca_curves"])
    assert set(pd.read_csv(docs / "scorecard.csv")["sweep"]) == {"rpca_alpha", "rpca_curves"}
    # A run folder that lacks one of the configuration's sweeps is refused, not judged "no data".
    shutil.rmtree(docs / "results" / "rpca_alpha")
    with pytest.raises(SystemExit, match="no tables of rpca_alpha"):
        rescore(docs, dict(load_yaml(REPO / "config.yaml"), size="quick"), repo=REPO)


def test_the_readmes_findings_state_only_published_numbers():
    """Every number in the README's findings is in a published file (a scorecard, or a file the
    finding links to) or is a setting of the schema: none is typed in from elsewhere."""
    import re

    text = (REPO / "README.md").read_text()
    findings = text[text.index("## Findings") : text.index("<!-- BEGIN")]
    sources = [*(REPO / "docs").glob("*/scorecard.md"), SCHEMA]
    sources += [REPO / link for link in re.findall(r"\]\((docs/[^)\s]+\.(?:md|csv))\)", findings)]
    corpus = "".join(path.read_text() for path in sources)
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)", findings)
    assert len(numbers) > 20
    assert [n for n in numbers if n not in corpus] == []


def test_run_times_in_the_docs_are_the_published_ones():
    """A wall time in minutes that the README or a page of docs/ states is a published run's."""
    import re

    facts = [json.loads(p.read_text()) for p in (REPO / "docs").rglob("run.json")]
    # A run's wall time, or the test suite's pytest time (docs/tests).
    published = {f"{f[key] / 60:.1f}" for f in facts for key in ("wall_s", "pytest_s") if key in f}
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        stated = set(re.findall(r"(\d+\.\d) min\b", page.read_text()))
        assert stated <= published, f"{page.name}: {sorted(stated - published)} min is no published run's wall time"


def test_the_test_suites_run_is_published_from_junit(tmp_path):
    from implicit_bias.publish import publish_tests

    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" time="125.5">'
        '<testcase classname="tests.test_a" name="test_fast" time="0.5"/>'
        '<testcase classname="tests.test_a" name="test_slow" time="90.0"/>'
        '<testcase classname="tests.test_b" name="test_skip" time="0.0"><skipped message="no GPU"/></testcase>'
        '<testcase classname="tests.test_b" name="test_bad" time="2.0"><failure message="x"/></testcase>'
        "</testsuite></testsuites>"
    )
    docs = tmp_path / "docs" / "tests"
    facts = publish_tests(junit, docs, wall_s=140.2, repo=REPO, cores=2, slowest=2)
    assert (facts["tests"], facts["passed"], facts["skipped"], facts["failed"]) == (4, 2, 1, 1)
    assert facts["pytest_s"] == 125.5 and facts["wall_s"] == 140.2
    assert [t["test"] for t in facts["slowest"]] == ["tests.test_a::test_slow", "tests.test_b::test_bad"]
    brief = (docs / "brief.md").read_text()
    assert "4 tests (2 passed, 1 skipped, 1 failed, 0 errors), **2.1 min** of pytest time (140 s of wall" in brief
    summary = (docs / "summary.md").read_text()
    assert summary.startswith(brief.strip()) and "| `tests.test_a::test_slow` | 90.0 |" in summary
