"""The toy set M_b of Eftekhari & Zygalakis 2021, Fig. 4: its points fit the data exactly, the
gradient is torch's, descent keeps the start's rank, the claims read yes, no and "no data",
and the job is seeded."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CONFIG

from implicit_bias.config import kind_defaults, load_yaml, validate_config
from implicit_bias.experiments import Context, registry, sweep_jobs
from implicit_bias.experiments.sensing_toy import (
    descent,
    gradient,
    loss,
    measure,
    random_start,
    rank_one_offsets,
    set_points,
    torus,
    toy_problem,
)
from implicit_bias.scorecard import ERROR, FAILS, HOLDS, NO_DATA, NOT_CONVERGED, scorecard


def _problem(seed: int):
    return toy_problem(np.random.default_rng(seed))


@pytest.mark.parametrize("seed", range(20))
def test_fig4_points_satisfy_the_constraints_to_1e_9(seed):
    A, b, X = _problem(seed)
    rng = np.random.default_rng(100 + seed)
    U = set_points(A, b, rng.uniform(0, 2 * math.pi, 500), rng.uniform(0, 2 * math.pi, 500))
    assert np.abs(measure(U, A) - b).max() <= 1e-9
    # An independent reading of the caption's operator: [||U[1,:]||^2, <A, UU^T>].
    for u in U[:20]:
        assert abs(u[0] @ u[0] - b[0]) <= 1e-9
        assert abs(np.trace(A.T @ u @ u.T) - b[1]) <= 1e-9
    assert np.allclose(b, [X[0, 0], np.sum(A * X)]) and np.linalg.matrix_rank(X) == 1


def test_rank_one_circles_are_the_planted_model_and_its_twin():
    A, b, X = _problem(3)
    planted, twin = rank_one_offsets(A, b, X)
    t = np.linspace(0, 2 * math.pi, 50)
    Up = set_points(A, b, t, np.full_like(t, planted))
    Ut = set_points(A, b, t, np.full_like(t, twin))
    np.testing.assert_allclose(Up @ np.swapaxes(Up, -1, -2), np.broadcast_to(X, (50, 2, 2)), atol=1e-12)
    assert np.abs(np.linalg.det(Ut)).max() < 1e-12
    assert np.linalg.norm(Ut[0] @ Ut[0].T - X) > 1e-3
    # Off the circles U is rank 2 and its model is not X.
    U = set_points(A, b, 0.3, 1.0)
    assert abs(np.linalg.det(U)) > 1e-3 and np.linalg.norm(U @ U.T - X) > 1e-3


def test_a_degenerate_operator_is_refused():
    A, b, _ = _problem(0)
    A[1, 1] = 0.0
    with pytest.raises(ValueError, match="torus"):
        torus(A, b)


def test_gradient_matches_autograd():
    A, b, _ = _problem(1)
    U = np.random.default_rng(7).standard_normal((5, 2, 2))
    Ut = torch.tensor(U, requires_grad=True)
    At, bt = torch.tensor(A), torch.tensor(b)
    UU = Ut @ Ut.transpose(-1, -2)
    r = torch.stack([UU[..., 0, 0], (At * UU).sum((-2, -1))], -1) - bt
    (r * r).sum().backward()
    np.testing.assert_allclose(gradient(U, A, b), Ut.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss(U, A, b), (r * r).sum(-1).detach().numpy(), rtol=1e-12)


def test_descent_keeps_the_rank_and_ends_on_the_set():
    A, b, X = _problem(2)
    rng = np.random.default_rng(0)
    U0 = np.stack([random_start(1, 0.5, rng), random_start(2, 0.5, rng)])
    np.testing.assert_allclose(np.linalg.norm(U0, axis=(-2, -1)), 0.5)
    marks, path, change = descent(A, b, U0, lr=0.02, steps=20000, record_every=100)
    assert marks[0] == 0 and marks[-1] == 20000 and len(path) == len(marks)
    assert np.abs(measure(path[-1], A) - b).max() < 1e-9
    sv = np.linalg.svd(path[-1], compute_uv=False)
    assert sv[0, 1] / sv[0, 0] < 1e-10 and sv[1, 1] / sv[1, 0] > 1e-3
    assert (change < 1e-6).all()


# ---------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------


def _settings(schema, size="smoke", **over):
    config = load_yaml(CONFIG)
    config["size"] = size
    config["sweeps"]["sensing_toy"].update(over)
    return validate_config(config, schema)["resolved"]["sensing_toy"]


def _run(tmp_path, settings, seed=2020):
    ctx = Context(
        sweep="sensing_toy",
        settings=settings,
        seed=seed,
        device=torch.device("cpu"),
        dtype=torch.float64,
        outdir=tmp_path,
        progress=False,
    )
    (job,) = sweep_jobs(settings).values()
    return registry().kind("sensing_toy").run(ctx, job)


def test_job_is_seeded_and_its_points_fit(schema, tmp_path):
    s = _settings(schema)
    sum1, cur1 = _run(tmp_path, s)
    sum2, cur2 = _run(tmp_path, s)
    pd.testing.assert_frame_equal(sum1, sum2)
    pd.testing.assert_frame_equal(cur1, cur2)
    other, _ = _run(tmp_path, s, seed=2021)
    assert not np.isclose(other["b1"].iloc[0], sum1["b1"].iloc[0])
    pts = sum1[sum1["method"] == "set"]
    assert len(pts) == s["mesh"] ** 2 + 2 * 4 * s["mesh"]
    assert pts["residual_abs"].max() <= 1e-9
    gd = sum1[sum1["method"] == "gd"]
    assert sorted(gd["init_rank"]) == [1, 2] and {"residual", "last_change", "lands"} <= set(gd.columns)
    assert set(cur1.columns) >= {"iteration", "u11", "u21", "u22", "init_rank", "start", "train_error"}
    # A start depends on its rank and index only, not on how many starts the sweep has.
    more, _ = _run(tmp_path, {**s, "starts": 2})
    a = gd.set_index(["init_rank", "start"])[["u11_0", "u21_0", "u22_0", "u11", "u22"]]
    np.testing.assert_array_equal(
        a.to_numpy(), more.set_index(["init_rank", "start"]).loc[a.index, a.columns].to_numpy()
    )


def test_plot_draws_the_set_and_the_paths(schema, tmp_path):
    s = _settings(schema)
    summary, curves = _run(tmp_path, s)
    fam = registry().families["sensing_toy"]
    plot = fam.plots["sensing_toy_set"]
    fig = plot.draw({"t": {"settings": s, "summary": summary, "curves": curves}})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "$U_{11}$" and ax.get_ylabel() == "$U_{21}$" and ax.get_zlabel() == "$U_{22}$"
    assert "Fig. 4" in plot.caption({"t": s})


# ---------------------------------------------------------------------------------------
# The claims, on made-up tables: yes, no (a negative control) and "no data"
# ---------------------------------------------------------------------------------------


def _set_rows(n=40, residual=1e-15, test_errors=None):
    t = np.linspace(0, 2 * math.pi, n)
    test = np.linspace(0.1, 1.5, n) if test_errors is None else test_errors
    return [
        {
            "method": "set",
            "part": "mesh",
            "u11": 0.5,
            "u12": 0.1,
            "u21": math.cos(x),
            "u22": math.sin(x),
            "residual_abs": residual,
            "residual": residual,
            "test_error": e,
        }
        for x, e in zip(t, test, strict=True)
    ]


def _gd_row(rank, residual=1e-15, ratio=None, test=None, change=0.0, diverged=False):
    ratio = (1e-15 if rank == 1 else 0.5) if ratio is None else ratio
    test = (0.0 if rank == 1 else 0.6) if test is None else test
    lands = "planted" if rank == 1 else "rank2"
    return {
        "method": "gd",
        "part": "path",
        "init_rank": rank,
        "start": 0,
        "residual_abs": residual,
        "residual": residual,
        "last_change": change,
        "sigma_ratio": ratio,
        "test_error": test,
        "lands": lands,
        "diverged": diverged,
    }


def _tables(set_rows=None, gd_rows=None):
    rows = (_set_rows() if set_rows is None else set_rows) + ([_gd_row(1), _gd_row(2)] if gd_rows is None else gd_rows)
    return {"summary": pd.DataFrame(rows), "curves": pd.DataFrame({"iteration": [0]})}


def _verdict(key, tables, size="quick", **settings):
    sweep = {"kind": "sensing_toy", **kind_defaults("sensing_toy"), **settings}
    card = scorecard(size, {"s": sweep}, {"s": tables}, registry().claims, figures={})
    assert ERROR not in set(card["holds"]), card[["claim_id", "ours"]].to_string()
    row = card.set_index("claim_id").loc[f"s:{key}"]
    return row["holds"], row["ours"]


CASES = [
    ("on_set", _tables(), HOLDS),
    ("on_set", _tables(set_rows=_set_rows(residual=1e-6)), FAILS),
    ("on_set", _tables(set_rows=[]), NO_DATA),
    ("gd_ends_on_set", _tables(), HOLDS),
    ("gd_ends_on_set", _tables(gd_rows=[_gd_row(1, residual=1e-5), _gd_row(2)]), FAILS),
    ("gd_ends_on_set", _tables(gd_rows=[_gd_row(1, residual=0.5), _gd_row(2)]), NOT_CONVERGED),
    ("gd_ends_on_set", _tables(gd_rows=[]), NO_DATA),
    ("zero_training_nonzero_test", _tables(), HOLDS),
    ("zero_training_nonzero_test", _tables(set_rows=_set_rows(test_errors=np.zeros(40))), FAILS),
    ("zero_training_nonzero_test", _tables(set_rows=_set_rows(residual=1e-3)), FAILS),
    ("zero_training_nonzero_test", _tables(set_rows=[]), NO_DATA),
    ("rank_decides", _tables(), HOLDS),
    ("rank_decides", _tables(gd_rows=[_gd_row(1, ratio=0.3), _gd_row(2)]), FAILS),
    ("rank_decides", _tables(gd_rows=[_gd_row(1), _gd_row(2, ratio=1e-12, test=0.0)]), FAILS),
    ("rank_decides", _tables(gd_rows=[_gd_row(1)]), NO_DATA),
    ("rank_decides", _tables(gd_rows=[_gd_row(1), _gd_row(2, diverged=True)]), NO_DATA),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[2]}:{i}" for i, c in enumerate(CASES)])
def test_claim_verdict(case):
    key, tables, want = case
    verdict, ours = _verdict(key, tables)
    assert verdict == want, ours
    if want == NO_DATA:
        assert "missing" in ours


def test_every_claim_has_yes_no_and_no_data():
    seen = {}
    for key, _, want in CASES:
        seen.setdefault(key, set()).add(want)
    keys = {c.key for c in registry().claims("sensing_toy")}
    assert set(seen) == keys
    assert all({HOLDS, FAILS, NO_DATA} <= v for v in seen.values())


def test_the_quick_run_reads_yes(schema, tmp_path):
    s = _settings(schema, size="quick")
    summary, curves = _run(tmp_path, s)
    card = scorecard("quick", {"t": s}, {"t": {"summary": summary, "curves": curves}}, registry().claims, figures={})
    assert set(card["holds"]) == {HOLDS}, card[["claim_id", "ours"]].to_string()
