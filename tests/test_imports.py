"""Light jobs import no engine: the families import torch and their engines inside the
functions that run jobs, so drawing a figure or judging the scorecard in a fresh interpreter
does not pay for them; and the code fingerprint follows those imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import CONFIG, REPO

from implicit_bias import fingerprint

#: Modules that only compute jobs import (each costs seconds in a fresh interpreter).
HEAVY = ("torch", "cvxpy", "scipy", "skimage")

#: What the light jobs do (captions, claims and two figures whose titles state engine
#: settings), in a fresh interpreter: ``python -c LIGHT_JOBS config.yaml out1.png out2.png``.
LIGHT_JOBS = """
import sys

import pandas as pd

from implicit_bias.config import load_schema, load_yaml, validate_config
from implicit_bias.experiments import draw_figure, figures, registry
from implicit_bias.scorecard import scorecard

reg = registry()
for size in ("smoke", "quick", "paper"):
    config = validate_config(dict(load_yaml(sys.argv[1]), size=size), load_schema(), reg)
    sweeps, figs = config["resolved"], figures(config)
    for spec in figs.values():
        reg.plot(spec["plot"]).caption({s: sweeps[s] for s in spec["sweeps"]})
    scorecard(size, sweeps, {}, reg.claims, figs)

phase = pd.DataFrame(
    [{"method": m, "rank": r, "p": p, "success": r < 3} for m in ("apg", "dop") for r in (1, 3) for p in (0.1, 0.2)]
)
curves = pd.DataFrame(
    [
        {"image": "F16", "p": 0.5, "method": m, "width": 8, "trial": 0, "iteration": i, "psnr": 20.0 + i}
        for m in ("dip", "dip_l1", "dop")
        for i in (0, 10)
    ]
)
settings = {"n": 20, "trials": 1, "alpha": None, "lambda": None}
draw_figure("rpca_phase", "phase_transition", {"a": {"settings": settings, "summary": phase}}, [sys.argv[2]])
draw_figure("images", "image_curves", {"b": {"settings": {}, "curves": curves}}, [sys.argv[3]])
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[4:]))))
"""


def test_figures_captions_and_claims_import_no_engine(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    outs = [str(tmp_path / "phase.png"), str(tmp_path / "curves.png")]
    args = [sys.executable, "-c", LIGHT_JOBS, str(CONFIG), *outs, *HEAVY]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""
    assert all((tmp_path / name).stat().st_size > 0 for name in ("phase.png", "curves.png"))


def test_the_light_restatements_agree_with_the_engines():
    """Figures state DOP's ratio, PCP's weight and the image methods without importing the
    engines that define them."""
    from implicit_bias.apg import pcp_lambda
    from implicit_bias.experiments.images import CURVE_METHODS
    from implicit_bias.image_recovery import METHODS
    from implicit_bias.rpca import learning_rate_ratio
    from implicit_bias.rpca_runs import dop_alpha, pcp_weight

    for n in (20, 50, 100):
        for value in (None, 0.3, 7):
            s = {"n": n, "alpha": value, "lambda": value}
            assert dop_alpha(s) == learning_rate_ratio(value, n)
            assert pcp_weight(s) == pcp_lambda(value, n)
    assert CURVE_METHODS == METHODS


# ---------------------------------------------------------------------------------------
# The fingerprint follows imports made inside functions
# ---------------------------------------------------------------------------------------

ENGINE = """
import math


def solve(x):
    return math.sqrt(x) + 1


def other(x):
    return x - 1
"""

FAMILY = """
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import solve


def jobs(settings):
    return [{}]


def run(ctx, job):
    from ..engine import solve as engine_solve

    def inner(x):
        import PKG.helpers

        return PKG.helpers.scale(x)

    return engine_solve(inner(job["x"]))


def draw(tables):
    from ..engine import other

    return other(1)
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``fp_pkg`` (an engine, helpers, and a family whose run imports them in its
    body) that the fingerprint covers in place of this project's."""
    name = "fp_pkg"
    root = tmp_path / name
    (root / "families").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "families" / "__init__.py").write_text("")
    (root / "engine.py").write_text(ENGINE)
    (root / "helpers.py").write_text("def scale(x):\n    return 2 * x\n")
    (root / "families" / "fam.py").write_text(FAMILY.replace("PKG", name))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(fingerprint, "PACKAGE", name)

    def code(roots=(f"{name}.families.fam:jobs", f"{name}.families.fam:run")) -> str:
        fingerprint._parse.cache_clear()
        fingerprint._spec.cache_clear()
        return fingerprint.code_fingerprint(roots)

    yield root, code
    fingerprint._parse.cache_clear()
    fingerprint._spec.cache_clear()
    # Finding a module imports its package: the next test's package is another folder.
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


@pytest.mark.parametrize(
    "path,old,new,changes",
    [
        # Reached only through imports in run's body, relative and absolute, in a nested function.
        ("engine.py", "math.sqrt(x) + 1", "math.sqrt(x) + 2", True),
        ("helpers.py", "2 * x", "3 * x", True),
        # Imported only in the body of another function (draw): not what run runs.
        ("engine.py", "x - 1", "x - 2", False),
    ],
)
def test_a_function_local_import_is_followed(package, path, old, new, changes):
    root, code = package
    before = code()
    text = (root / path).read_text()
    (root / path).write_text(text.replace(old, new))
    assert (code() != before) == changes


def test_a_function_local_import_binds_only_its_own_definition(package):
    root, code = package
    draw = ("fp_pkg.families.fam:draw",)
    before_run, before_draw = code(), code(draw)
    text = (root / "engine.py").read_text()
    (root / "engine.py").write_text(text.replace("x - 1", "x - 2"))
    assert code() == before_run
    assert code(draw) != before_draw


def test_every_kind_reaches_its_engines_through_local_imports():
    from implicit_bias.experiments import registry

    reg = registry()
    expected = {
        "rpca_alpha": {"rpca:dop_descent", "rpca:relative_error"},
        "rpca_curves": {"rpca:dop_descent", "rpca:mf_l1_descent", "rpca:learning_rate_ratio"},
        "rpca_phase": {"rpca:dop_descent", "apg:apg_rpca", "apg:pcp_lambda", "convex:pcp", "devices:resolve_dtype"},
        "sensing_init": {"sensing:sensing_descent", "sensing:sensing_problem", "sensing:random_factor"},
        "sensing_restart": {"sensing:restarted_descent", "sensing:sensing_descent"},
        "sensing_toy": {"experiments.sensing_toy:descent", "experiments.sensing_toy:set_points"},
        "theory_theorem1": {
            "theory:sensing_dop_descent",
            "theory:commuting_dop_descent",
            "convex:commuting_sensing_lp",
        },
        "theory_weighted_min_norm": {"theory:weighted_min_norm", "theory:preconditioned_descent"},
        "theory_alpha_lambda": {"convex:psd_pcp", "rpca_runs:dop_until_stationary", "convex:nearest_lambda"},
        **{k: {"image_recovery:recover_image"} for k in ("image_width", "image_gallery", "image_noise", "image_alpha")},
    }
    assert set(expected) == set(reg.kind_module)
    for kind_name, engines in expected.items():
        kind = reg.kind(kind_name)
        dumps = fingerprint._reach(
            (r.partition(":")[0], r.partition(":")[2])
            for r in [*fingerprint.function_roots(kind.jobs, kind.run), *fingerprint.ALWAYS]
        )
        reached = {
            f"{module.removeprefix('implicit_bias.')}:{name}"
            for module, _, dump in (d.partition("\n") for d in dumps)
            for name in [dump.partition("name='")[2].partition("'")[0]]
        }
        assert engines | {"devices:resolve_device"} <= reached, kind_name
