"""Configuration: sizes merge as documented; every mistake is refused before any job, naming the key."""

import copy
import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CONFIG, REPO, SCHEMA, run_snakemake

from implicit_bias.config import ConfigError, deep_merge, kind_defaults, load_yaml, size_stamp, validate_config
from implicit_bias.experiments import Registry, figures, registry, sweep_jobs
from implicit_bias.grids import log_grid, short_number
from implicit_bias.preflight import preflight


def test_default_config_is_valid(base_config, schema):
    cfg = validate_config(base_config, schema)
    assert cfg["size"] == "quick"
    assert {"rpca_alpha", "rpca_curves"} <= set(cfg["resolved"])


@pytest.mark.parametrize("size", ["smoke", "quick", "cpu", "paper"])
def test_every_size_is_valid(base_config, schema, size):
    validate_config(dict(base_config, size=size), schema, registry())


def test_size_precedence(base_config, schema):
    paper = validate_config(dict(base_config, size="paper"), schema)["resolved"]["rpca_alpha"]
    quick = validate_config(dict(base_config, size="quick"), schema)["resolved"]["rpca_alpha"]
    smoke = validate_config(dict(base_config, size="smoke"), schema)["resolved"]["rpca_alpha"]
    assert paper["trials"] == kind_defaults("rpca_alpha")["trials"] == 10
    assert quick["trials"] == base_config["sizes"]["quick"]["kinds"]["rpca_alpha"]["trials"]
    assert smoke["steps"] < quick["steps"] == paper["steps"] == 20000
    # A per-sweep size override beats the per-kind one.
    cfg = deep_merge(base_config, {"size": "quick", "sizes": {"quick": {"sweeps": {"rpca_alpha": {"trials": 5}}}}})
    assert validate_config(cfg, schema)["resolved"]["rpca_alpha"]["trials"] == 5


def test_paper_size_runs_the_schema_defaults(base_config, schema):
    """The paper's values have one home: the schema. config.yaml's sweeps restate none of them."""
    paper = validate_config(dict(base_config, size="paper"), schema)["resolved"]
    for name, block in base_config["sweeps"].items():
        assert set(block) == {"kind"}, name
        expected = kind_defaults(block["kind"])
        assert {k: v for k, v in paper[name].items() if k not in ("kind", "image_dir")} == expected


def test_new_sweep_takes_defaults_and_size(base_config, schema):
    cfg = deep_merge(base_config, {"sweeps": {"alpha_n100": {"kind": "rpca_alpha", "n": 100, "rank": 10}}})
    res = validate_config(cfg, schema)
    s = res["resolved"]["alpha_n100"]
    assert s["p"] == 0.3 and s["steps"] == 20000 and s["trials"] == 3  # quick shrinks it too
    from implicit_bias.rpca_runs import sweep_alphas

    assert 10.0 in sweep_alphas(s) and len(sweep_jobs(s)) == 1  # sqrt(100) joins the grid; one job
    assert figures(res)["alpha_n100"] == {"plot": "alpha_sweep", "sweeps": ["alpha_n100"]}


def test_size_stamp_names_what_differs(base_config, schema):
    quick = validate_config(base_config, schema)
    assert size_stamp(quick, ["rpca_alpha"]) == "quick size, not the papers' settings: trials 3 (paper 10)"
    paper = validate_config(dict(base_config, size="paper"), schema)
    assert size_stamp(paper, ["rpca_alpha"]) == ""


# ---------------------------------------------------------------------------------------
# Mistakes, one case per class: (name, overlay YAML, text the message must contain).
# Each is refused by the code a dry run executes (see workflow/rules/common.smk).
# ---------------------------------------------------------------------------------------

NO_CUDA = not torch.cuda.is_available()
PAPER_IMAGES = REPO.parent / "shared" / "data" / "images"

BAD = [
    # Values out of range, of the wrong type, unknown.
    ("p above 1", "sweeps: {rpca_alpha: {p: 1.5}}", "sweeps.rpca_alpha.p: 1.5 is greater than the maximum of 1"),
    ("p below 0", "sweeps: {rpca_alpha: {p: -0.1}}", "sweeps.rpca_alpha.p"),
    ("rank above n", "sweeps: {rpca_alpha: {rank: 60}}", "sweeps.rpca_alpha.rank: rank 60 is above n = 50"),
    ("alpha_min 0", "sweeps: {rpca_alpha: {alpha_min: 0}}", "sweeps.rpca_alpha.alpha_min"),
    ("negative alpha", "sweeps: {rpca_curves: {alpha: -1.0}}", "sweeps.rpca_curves.alpha"),
    ("zero trials", "sweeps: {rpca_alpha: {trials: 0}}", "sweeps.rpca_alpha.trials"),
    ("negative steps", "sweeps: {rpca_alpha: {steps: -5}}", "sweeps.rpca_alpha.steps"),
    ("string step size", "sweeps: {rpca_alpha: {lr: fast}}", "sweeps.rpca_alpha.lr: 'fast' is not of type 'number'"),
    (
        "typo in a sweep",
        "sweeps: {rpca_alpha: {stpes: 10}}",
        "sweeps.rpca_alpha: unknown key 'stpes' (did you mean 'steps'?)",
    ),
    ("unknown method", "sweeps: {rpca_curves: {methods: [sgd]}}", "sweeps.rpca_curves.methods.0"),
    (
        "unknown kind",
        "sweeps: {x: {kind: rpca_alpah}}",
        "sweeps.x.kind: unknown sweep kind 'rpca_alpah' (did you mean 'rpca_alpha'?)",
    ),
    ("no kind", "sweeps: {x: {n: 5}}", "config.sweeps.x: 'kind' is a required property"),
    ("unknown size", "size: huge", "config.size: 'huge' is not one of"),
    ("unknown top-level key", "sed: 1", "config: unknown key 'sed' (did you mean 'seed'?)"),
    (
        "figure of no sweep",
        "figures: {f: {plot: alpha_sweep, sweeps: [missing]}}",
        "figures.f.sweeps: no sweep named 'missing'",
    ),
    (
        "extra run at an unknown norm",
        "sweeps: {sensing_init: {extra_runs: [{init_norm: 5.0, lr: 1.0e-6}]}}",
        "sweeps.sensing_init.extra_runs.0.init_norm: 5.0 is not one of init_norms",
    ),
    (
        "alpha grid upside down",
        "sweeps: {rpca_alpha: {alpha_min: 50.0, alpha_max: 2.0}}",
        "sweeps.rpca_alpha.alpha_min: 50.0 is above",
    ),
    ("image size vs scales", "sweeps: {image_width: {image_size: 96, scales: 6}}", "sweeps.image_width.image_size: 96"),
    (
        "rank floor above start",
        "sweeps: {sensing_restart: {min_rank: 31, init_rank: 30}}",
        "sweeps.sensing_restart.min_rank",
    ),
    (
        "determined system",
        "sweeps: {theory_weighted_min_norm: {rows: 10, dim: 10}}",
        "sweeps.theory_weighted_min_norm.dim",
    ),
    (
        "invalid override at another size",
        "sizes: {smoke: {kinds: {rpca_alpha: {trials: 0}}}}",
        "at size smoke: sweeps.rpca_alpha.trials",
    ),
    # Silently ignored before.
    (
        "typo in a size's sweep name",
        "sizes: {smoke: {sweeps: {rpca_alfa: {trials: 1}}}}",
        "sizes.smoke.sweeps.rpca_alfa: there is no sweep 'rpca_alfa' (did you mean 'rpca_alpha'?)",
    ),
    (
        "typo in a size's kind key",
        "sizes: {quick: {kinds: {rpca_alpha: {trails: 2}}}}",
        "sizes.quick.kinds.rpca_alpha: unknown key 'trails' (did you mean 'trials'?)",
    ),
    (
        "typo in a size's kind name",
        "sizes: {quick: {kinds: {rpca_alfa: {trials: 2}}}}",
        "sizes.quick.kinds.rpca_alfa: unknown kind 'rpca_alfa'",
    ),
    (
        "typo in an unused size",
        "sizes: {paper: {sweeps: {rpca_alpha: {stpes: 5}}}}",
        "sweeps.rpca_alpha: unknown key 'stpes' (did you mean 'steps'?)",
    ),
    (
        "a size changing a kind's problem",
        "sizes: {quick: {kinds: {image_gallery: {lr: 3.0}}}}",
        "sizes.quick.kinds.image_gallery.lr: a size may change a kind's budgets",
    ),
    (
        "a size changing a sweep's kind",
        "sizes: {quick: {sweeps: {rpca_alpha: {kind: rpca_curves}}}}",
        "sizes.quick.sweeps.rpca_alpha.kind",
    ),
    # Silently replaced before.
    ("a null size", "sizes: {smoke: null}", "config.sizes.smoke: None is not of type 'object'"),
    ("null kinds of a size", "sizes: {quick: {kinds: null}}", "config.sizes.quick.kinds: None is not of type 'object'"),
    ("null sweeps", "sweeps: null", "config.sweeps: None is not of type 'object'"),
    ("null figures", "figures: null", "config.figures: None is not of type 'object'"),
    ("a null sweep", "sweeps: {rpca_alpha: null}", "config.sweeps.rpca_alpha: None is not of type 'object'"),
    (
        "a sweep named like a figure",
        "sweeps: {fig1a_rpca_curves: {kind: rpca_curves}}",
        "sweeps.fig1a_rpca_curves: a sweep may not share its name with the figure",
    ),
    (
        "duplicate sweep in one file",
        "sweeps:\n  rpca_alpha: {trials: 2}\n  rpca_alpha: {trials: 3}\n",
        "the key 'rpca_alpha' is given twice",
    ),
    (
        "duplicate key in one sweep",
        "sweeps:\n  rpca_alpha:\n    trials: 2\n    trials: 3\n",
        "the key 'trials' is given twice",
    ),
    # Caught only when a job ran, before.
    ("NaN step size", "sweeps: {rpca_alpha: {lr: .nan}}", "config.sweeps.rpca_alpha.lr: nan is not a finite number"),
    ("NaN corruption", "sweeps: {rpca_alpha: {p: .nan}}", "config.sweeps.rpca_alpha.p: nan is not a finite number"),
    (
        "infinite step size",
        "sweeps: {rpca_alpha: {lr: .inf}}",
        "config.sweeps.rpca_alpha.lr: inf is not a finite number",
    ),
    (
        "steps written as a float",
        "sweeps: {rpca_alpha: {steps: 400.0}}",
        "sweeps.rpca_alpha.steps: 400.0 is not an integer; write it without a decimal point",
    ),
    (
        "trials written as a float",
        "sweeps: {rpca_curves: {trials: 3.0}}",
        "sweeps.rpca_curves.trials: 3.0 is not an integer",
    ),
    ("seed written as a float", "seed: 7.0", "config.seed: 7.0 is not an integer"),
    pytest.param(
        "a CUDA device on a machine without one",
        "device: cuda",
        "config.device: device 'cuda' was asked for",
        marks=pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA"),
        id="a CUDA device on a machine without one",
    ),
    ("an unknown device", "device: tpu", "config.device: 'tpu' does not match"),
    (
        "an image scikit-image does not bundle",
        "sizes: {quick: {sweeps: {image_noise: {images: [rokcet]}}}}",
        "sweeps.image_noise.images: 'rokcet' is not an image bundled with scikit-image (did you mean 'rocket'?); "
        "the bundled images: astronaut",
    ),
    (
        "a missing image file",
        "size: paper\nimage_dir: {tmp}/empty",
        "sweeps.image_gallery.images: image 'F16' not found",
    ),
    ("a damaged image file", "size: paper\nimage_dir: {tmp}/damaged", "image 'F16' in"),
    ("an image of the wrong checksum", "size: paper\nimage_dir: {tmp}/altered", "SHA-256 differs"),
    # No upper bound before.
    (
        "a trillion steps",
        "sweeps: {rpca_alpha: {steps: 1000000000000}}",
        "sweeps.rpca_alpha.steps: 1e+12 is above 1e+07, the most a 24 GiB machine is known to take",
    ),
    (
        "a million trials",
        "sweeps: {rpca_curves: {trials: 1000000}}",
        "at size paper: sweeps.rpca_curves.trials: 1e+06 is above",
    ),
    ("a huge matrix", "sweeps: {rpca_phase: {n: 1000000000000}}", "sweeps.rpca_phase.n: 1e+12 is above"),
    (
        "a huge image width",
        "sweeps: {image_gallery: {widths: [100000]}}",
        "at size paper: sweeps.image_gallery.widths.0: 100000 is above",
    ),
    (
        "too many recorded points",
        "sweeps: {rpca_curves: {record_every: 1, steps: 1000000}}",
        "sweeps.rpca_curves.record_every: 1 records 1000000 points per curve",
    ),
    # Obscure refusals before.
    (
        "a sweep name with a hyphen",
        "sweeps: {rpca-alpha: {kind: rpca_alpha}}",
        "config.sweeps: the name 'rpca-alpha' is not allowed (allowed: letters, digits and underscores)",
    ),
    (
        "a sweep name with a space",
        "sweeps: {'rpca alpha': {kind: rpca_alpha}}",
        "config.sweeps: the name 'rpca alpha' is not allowed",
    ),
    (
        "a sweep name with a non-ASCII letter",
        "sweeps: {rpca_α: {kind: rpca_alpha}}",
        "config.sweeps: the name 'rpca_α' is not allowed",
    ),
    # Tracebacks before.
    (
        "a figure whose plot belongs to another kind",
        "figures: {fig2a_alpha_sweep: {plot: phase_transition, sweeps: [rpca_alpha]}}",
        "figures.fig2a_alpha_sweep.plot: plot 'phase_transition' draws sweeps of kind rpca_phase, "
        "not sweep 'rpca_alpha'",
    ),
    (
        "an unknown plot",
        "figures: {f: {plot: alpha_swep, sweeps: [rpca_alpha]}}",
        "figures.f.plot: unknown plot 'alpha_swep' (did you mean 'alpha_sweep'?)",
    ),
    ("an overlay that is not a mapping", "- rpca_alpha\n", "a configuration file must be a mapping"),
    ("pack_jobs not true, false or null", "pack_jobs: sometimes", "config.pack_jobs: 'sometimes' is not of type"),
]


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory):
    """Folders of the paper's image names: empty, a damaged F16, an F16 with a wrong checksum."""
    import skimage.io

    root = tmp_path_factory.mktemp("images")
    (root / "empty").mkdir()
    for name in ("damaged", "altered"):
        (root / name).mkdir()
        for image in ("F16", "Peppers", "Baboon", "kodim03"):
            skimage.io.imsave(root / name / f"{image}.png", np.zeros((128, 128, 3), np.uint8), check_contrast=False)
    (root / "damaged" / "F16.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (root / "altered" / "SHA256SUMS").write_text("0" * 64 + "  F16.png\n")
    return root


def refusal(overlay_text: str, tmp_path) -> str:
    """Validate config.yaml with an overlay as the workflow does; the message, or '' if accepted."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(overlay_text)
    try:
        config = deep_merge(load_yaml(CONFIG), load_yaml(overlay))
        validated = validate_config(config, load_yaml(SCHEMA), registry(), REPO)
        preflight(validated, registry(), root=REPO, local=True)
    except ConfigError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("name,overlay,expected", BAD, ids=[c[0] if isinstance(c, tuple) else c.values[0] for c in BAD])
def test_every_mistake_is_refused_naming_the_key(name, overlay, expected, tmp_path, image_folders):
    message = refusal(overlay.replace("{tmp}", str(image_folders)), tmp_path)
    assert expected in message, f"{name}: {message or 'accepted'}"


def test_the_bad_configuration_list_covers_the_classes():
    assert len(BAD) >= 40


def test_ceilings_give_way_to_allow_large(tmp_path):
    assert refusal("allow_large: true\nsweeps: {rpca_alpha: {steps: 20000000}}", tmp_path) == ""


def test_a_users_image_sweep_keeps_its_images(tmp_path):
    assert refusal("sweeps: {mine: {kind: image_gallery, image_source: skimage, images: [camera]}}", tmp_path) == ""
    config = deep_merge(
        load_yaml(CONFIG),
        {"sweeps": {"mine": {"kind": "image_gallery", "image_source": "skimage", "images": ["camera"]}}},
    )
    s = validate_config(config, load_yaml(SCHEMA))["resolved"]["mine"]
    assert s["images"] == ["camera"] and (s["lr"], s["alpha"]) == (1.0, 500.0)
    assert s["image_size"] == 64  # the budget shrinks at the quick size


DRY_RUN = [
    ("sweeps: {rpca_alpha: {p: 1.5}}", "sweeps.rpca_alpha.p"),
    ("sizes: {smoke: {sweeps: {rpca_alfa: {trials: 1}}}}", "sizes.smoke.sweeps.rpca_alfa"),
    ("sweeps:\n  rpca_alpha: {trials: 2}\n  rpca_alpha: {trials: 3}\n", "given twice"),
    ("sweeps: {rpca_alpha: {steps: 400.0}}", "sweeps.rpca_alpha.steps"),
    ("sweeps: {rpca-alpha: {kind: rpca_alpha}}", "rpca-alpha"),
    ("figures: {fig2a_alpha_sweep: {plot: phase_transition, sweeps: [rpca_alpha]}}", "figures.fig2a_alpha_sweep.plot"),
    ("sizes: {quick: {sweeps: {image_noise: {images: [rokcet]}}}}", "rocket"),
]


@pytest.mark.parametrize("overlay_text,key", DRY_RUN)
def test_a_dry_run_refuses_before_any_job(overlay_text, key, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(overlay_text)
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(overlay), "--cores", "1", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and key in text, text[-2000:]
    assert "Traceback" not in text
    assert not (tmp_path / "results").exists()


def test_a_missing_configfile_stops_snakemake_naming_it(tmp_path):
    # Snakemake's command line reads --configfile before it reads this workflow, so the
    # message (a FileNotFoundError naming the file) is Snakemake's own.
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "nowhere.yaml"), "--cores", "1", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "No such file or directory" in text and "nowhere.yaml" in text, text[-2000:]
    assert not (tmp_path / "results").exists()


def test_out_of_range_message_states_allowed_range(base_config, schema):
    with pytest.raises(ConfigError) as err:
        validate_config(deep_merge(base_config, {"sweeps": {"rpca_alpha": {"p": 1.5}}}), schema)
    assert "[0, 1]" in str(err.value)


def test_show_prints_a_sweeps_settings():
    proc = subprocess.run(
        [sys.executable, "-m", "implicit_bias.config", "show", "rpca_alpha", "--size", "paper"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trials: 10" in proc.stdout and "steps: 20000" in proc.stdout


def test_grid_helpers():
    assert short_number(7.0710678) == "7.071"
    assert short_number(20.0) == "20"
    assert short_number(1e-5) == "1e-05"
    grid = log_grid(1, 100, 5)
    assert grid == [1.0, 3.16, 10.0, 31.6, 100.0]


def test_deep_merge_keeps_base_untouched():
    base = {"a": {"b": 1, "c": [1]}}
    merged = deep_merge(base, {"a": {"b": 2}})
    assert merged == {"a": {"b": 2, "c": [1]}} and base == {"a": {"b": 1, "c": [1]}}
    copy.deepcopy(merged)


def _with_checks(reg: Registry, kind: str, checks) -> Registry:
    """``reg`` with the checks of one kind replaced."""
    module = reg.kind_module[kind]
    family = reg.families[module]
    kinds = {**family.kinds, kind: dataclasses.replace(family.kinds[kind], checks=checks)}
    families = {**reg.families, module: dataclasses.replace(family, kinds=kinds)}
    return Registry(families, reg.kind_module, reg.plot_module)


def test_validation_applies_the_checks_a_family_declares(base_config, schema):
    bad = deep_merge(base_config, {"sweeps": {"sensing_restart": {"min_rank": 25, "init_rank": 20}}})
    with pytest.raises(ConfigError) as err:
        validate_config(bad, schema)  # the package's families, found by validation itself
    assert "sweeps.sensing_restart.min_rank: 25 is above init_rank = 20" in str(err.value)
    # Without the family's hook the same settings pass; another hook's problems are refused, named by key.
    assert validate_config(bad, schema, _with_checks(registry(), "sensing_restart", None))["resolved"]
    other = _with_checks(registry(), "sensing_restart", lambda s: [("window", "too short")])
    with pytest.raises(ConfigError, match=r"sweeps\.sensing_restart\.window: too short"):
        validate_config(base_config, schema, other)


def test_a_job_asks_for_the_threads_its_solver_uses(base_config, schema):
    resolved = validate_config(dict(base_config, size="paper"), schema)["resolved"]
    s = resolved["rpca_phase"]
    kind = registry().kind("rpca_phase")
    threads = {job["method"]: kind.resources(s, job)["threads"] for job in sweep_jobs(s).values()}
    assert threads == {"pcp": 1, "apg": 1, "dop": 1}  # 75 row jobs: several at once, one thread each
    # The alpha sweep is one batch: two threads where it is big enough to use them.
    alpha = resolved["rpca_alpha"]
    (job,) = sweep_jobs(alpha).values()
    assert registry().kind("rpca_alpha").resources(alpha, job)["threads"] == 2


def _planned(tmp_path, directive: str, omitted: int, *config: str, rules: str = r"run_\w+") -> dict:
    """``{(rule, job): value}`` of a job directive (``threads``, ``priority``) in a dry run
    with ``--config *config``, for the rules whose names match ``rules``; Snakemake omits
    the line where the value is ``omitted``."""
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", "--config", *config)
    planned = {}
    for block in re.split(r"\n(?=rule |localrule )", proc.stdout):
        rule = re.match(rf"(?:local)?rule ({rules}):", block)
        if rule:
            job = re.search(r"job=(\S+)", block)
            job = job.group(1) if job else ""  # a packed sweep's one job has no job wildcard
            found = re.search(rf"^\s+{directive}: (\d+)$", block.split("\n\n")[0], re.MULTILINE)
            planned[(rule.group(1), job)] = int(found.group(1)) if found else omitted
    return planned


def test_the_workflow_gives_each_job_its_own_threads(tmp_path):
    threads = {}
    for (_, job), n in _planned(tmp_path, "threads", 1, "size=quick", "only=[rpca_phase]").items():
        threads.setdefault(re.match(r"method~(\w+?)_", job).group(1), set()).add(n)
    assert threads == {"pcp": {1}, "apg": {1}, "dop": {1}}


def test_a_sweep_of_one_job_is_scheduled_first(tmp_path):
    priority = {}
    planned = _planned(tmp_path, "priority", 0, "size=smoke", "pack_jobs=False", rules=r"\w+")
    for (rule, _), n in planned.items():
        priority.setdefault(rule, set()).add(n)
    # One job (the alpha sweep, Theorem 1's batch): first; several (the grid's rows): after.
    assert priority["run_rpca_alpha"] == priority["run_theory_theorem1"] == {1}
    assert priority["run_rpca_phase"] == priority["run_sensing_init"] == {0}
    # The tables and figures of a finished sweep before any of them, while the others run.
    assert priority["aggregate"] == priority["figure"] == {2}


@pytest.mark.parametrize("size,pack", [("smoke", ""), ("quick", "True")])
def test_pack_jobs_plans_one_job_per_sweep_where_asked(size, pack, tmp_path):
    """pack_jobs: null (``pack_jobs=`` on the command line) packs at the smoke size, True at
    any size. (Unpacked: the quick size's null above, the smoke size's False below.)"""
    planned = _planned(tmp_path, "threads", 1, f"size={size}", f"pack_jobs={pack}", "only=[rpca_phase,sensing_init]")
    assert sorted(planned) == [("run_rpca_phase", ""), ("run_sensing_init", "")]
    # The packed job asks for the most threads any of its jobs needs (one each here).
    assert planned[("run_rpca_phase", "")] == 1
