"""The DOP engine against a plain reference iteration, and the rpca_phase sweep's jobs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from implicit_bias.experiments import run_job, sweep_jobs
from implicit_bias.rpca import dop_descent, dop_gradients


def _reference_dop(Y, U, g, h, alpha, *, lr, steps):
    """Eq. 6 of You et al. written out with the closed-form gradients, one step at a time."""
    alpha = torch.as_tensor(alpha, dtype=Y.dtype).reshape(-1, 1, 1)
    for _ in range(steps):
        gU, gg, gh = dop_gradients(U, g, h, Y)
        U, g, h = U - lr * gU, g - alpha * lr * gg, h - alpha * lr * gh
    return U @ U.mT, g * g - h * h


@pytest.mark.parametrize("alpha", [7.0, [1.0, 7.0, 30.0]])
def test_dop_descent_matches_reference_iteration(alpha):
    gen = torch.Generator().manual_seed(3)
    B, n = 3, 8
    Y = torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    U0 = 0.1 * torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    g0 = 0.1 * torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    h0 = g0 + 0.05 * torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    # A large step, so that a wrong sign or factor shows within a few hundred steps.
    res = dop_descent(Y, U0, g0, h0, torch.tensor(alpha, dtype=torch.float64), 1e-2, steps=300, record_every=100)
    X_ref, S_ref = _reference_dop(Y, U0, g0, h0, alpha, lr=1e-2, steps=300)
    assert res.steps_run == 300
    assert float((X_ref - U0 @ U0.mT).abs().max()) > 1e-2  # the run moved
    torch.testing.assert_close(res.X, X_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res.S, S_ref, rtol=1e-10, atol=1e-12)
    # Inputs are not modified in place.
    assert float(U0.abs().sum()) > 0 and not torch.equal(U0, res.X)


def _settings(**kw):
    from implicit_bias.config import kind_defaults

    s = {
        **kind_defaults("rpca_phase"),
        "kind": "rpca_phase",
        "n": 12,
        "ranks": [1, 6],
        "ps": [0.05, 0.4],
        "methods": ["apg", "dop"],
        "trials": 2,
        "steps": 3000,
        "lr": 1e-3,
        "init_scale": 1e-3,
    }
    s.update(kw)
    return s


def test_the_exact_program_is_certified_and_judged_against_apg(tmp_path):
    from implicit_bias.experiments import registry

    s = _settings(methods=["apg", "pcp"], ranks=[2])
    rows = {
        m: run_job(sweep="ph", settings=s, job={"method": m, "rank": 2}, outdir=tmp_path / m, seed=1, progress=False)[0]
        for m in ("apg", "pcp")
    }
    exact = rows["pcp"]
    assert exact["certified"].all() and (exact["gap"] <= 1e-6).all()
    assert list(exact["seed"]) == list(rows["apg"]["seed"])
    # APG stops at a small residual, not at the optimum: close to it, but not equal.
    np.testing.assert_allclose(exact["rel_err_X"], rows["apg"]["rel_err_X"], atol=0.05)
    (claim,) = [c for c in registry().claims("rpca_phase") if c.key == "apg_matches_exact"]
    summary = pd.concat(rows.values(), ignore_index=True)
    text, agrees = claim.check(claim.settings(s), {"summary": summary})
    assert agrees == bool((summary.groupby(["p", "trial"])["success"].nunique() == 1).all())
    flipped = summary.assign(success=np.where(summary["method"] == "apg", ~summary["success"], summary["success"]))
    text, agrees = claim.check(claim.settings(s), {"summary": flipped})
    assert not agrees and f"on {len(exact)} of {len(exact)} problems" in text


def test_phase_jobs_share_problems_and_do_not_depend_on_batching(tmp_path):
    s = _settings()
    jobs = sweep_jobs(s)
    assert sorted(jobs) == ["method~apg_rank~1", "method~apg_rank~6", "method~dop_rank~1", "method~dop_rank~6"]
    out = {
        name: run_job(sweep="phase", settings=s, job=c, outdir=tmp_path / name, seed=1, progress=False)[0]
        for name, c in jobs.items()
    }
    apg, dop = out["method~apg_rank~1"], out["method~dop_rank~1"]
    assert len(apg) == len(dop) == 4
    assert list(apg["seed"]) == list(dop["seed"])  # both methods see the same problems
    assert apg["lambda"].iloc[0] == pytest.approx(1 / math.sqrt(12))
    assert dop["alpha"].iloc[0] == pytest.approx(math.sqrt(12))
    easy = dop[dop["p"] == 0.05]
    assert easy["success"].all() and (easy["rel_err_X"] < 0.1).all()
    # One p at a time gives the same numbers as the whole row at once.
    alone = run_job(
        sweep="phase",
        settings=_settings(ps=[0.4]),
        job={"method": "dop", "rank": 1},
        outdir=tmp_path / "alone",
        seed=1,
        progress=False,
    )[0]
    row = dop[dop["p"] == 0.4].reset_index(drop=True)
    assert list(alone["seed"]) == list(row["seed"])
    np.testing.assert_allclose(alone["rel_err_X"], row["rel_err_X"], rtol=1e-9)
    assert (tmp_path / "method~apg_rank~6" / "summary.csv").exists()


def test_phase_rejects_unknown_method(tmp_path):
    ctx_settings = _settings()
    with pytest.raises(ValueError, match="unknown method"):
        run_job(
            sweep="phase",
            settings=ctx_settings,
            job={"method": "svt", "rank": 1},
            outdir=tmp_path,
            seed=1,
            progress=False,
        )


def test_config_rejects_rank_above_n(schema, base_config):
    from implicit_bias.config import ConfigError, validate_config

    base_config["sweeps"]["rpca_phase"]["ranks"] = [1, 60]
    base_config["size"] = "paper"
    with pytest.raises(ConfigError, match="rank 60 is above n"):
        validate_config(base_config, schema)


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_dop_descent_chunks_give_the_whole_batch_result(chunk):
    """Running the batch in chunks changes no trial's iterates or curves."""
    gen = torch.Generator().manual_seed(3)
    B, n = 5, 8
    Y = torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    U0 = 1e-2 * torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    g0 = 1e-2 * torch.randn(B, n, n, generator=gen, dtype=torch.float64)
    alpha = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    kw = dict(record_every=7, X_true=Y, S_true=Y)
    whole = dop_descent(Y, U0, g0, g0.clone(), alpha, 1e-2, steps=30, chunk=B, **kw)
    parts = dop_descent(Y, U0, g0, g0.clone(), alpha, 1e-2, steps=30, chunk=chunk, **kw)
    assert torch.allclose(parts.X, whole.X, rtol=1e-12, atol=1e-14)
    assert torch.allclose(parts.S, whole.S, rtol=1e-12, atol=1e-14)
    assert torch.equal(parts.iterations, whole.iterations)
    for k in whole.curves:
        assert torch.allclose(parts.curves[k], whole.curves[k], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="chunk"):
        dop_descent(Y, U0, g0, g0.clone(), alpha, 1e-2, steps=3, chunk=0)
