"""Uncertainty on judged numbers: Wilson intervals, McNemar's paired test, and the
"inconclusive" verdict of a region claim whose advantage is not significant."""

import math

import numpy as np
import pandas as pd
import pytest

from implicit_bias.experiments import registry
from implicit_bias.scorecard import FAILS, HOLDS, INCONCLUSIVE, mcnemar_exact, trials_to_settle, wilson_interval


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.parametrize("k,n", [(0, 12), (12, 12), (7, 10), (1, 3), (223, 625)])
def test_wilson_interval_matches_the_closed_form(k, n):
    assert wilson_interval(k, n) == pytest.approx(_wilson_closed_form(k, n), abs=1e-12)


def test_wilson_interval_known_values():
    # 0 of 12 trials: the upper bound 0.2425 (z = 1.96); with no trials, nothing is known.
    low, high = wilson_interval(0, 12)
    assert low == pytest.approx(0.0, abs=1e-15) and high == pytest.approx(0.24249, abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("b,c", [(6, 0), (12, 1), (5, 5), (0, 7), (30, 18), (1, 0)])
def test_mcnemar_exact_is_the_two_sided_binomial_tail(b, c):
    n = b + c
    tail = sum(math.comb(n, i) for i in range(0, min(b, c) + 1)) / 2**n
    assert mcnemar_exact(b, c) == pytest.approx(min(1.0, 2 * tail), rel=1e-12)


def test_mcnemar_without_discordant_problems_is_one():
    assert mcnemar_exact(0, 0) == 1.0


def test_trials_to_settle_reaches_the_threshold_at_the_observed_rates():
    # 3 discordant problems to 0 in 2 trials: z = sqrt(3); 1.96^2 / 3 x 2 trials -> 3.
    assert trials_to_settle(3, 0, 2) == 3
    need = trials_to_settle(12, 5, 10)
    scale = need / 10
    z = (12 - 5) * scale / math.sqrt((12 + 5) * scale)
    assert z >= 1.96 and (12 - 5) * (scale - 0.1) / math.sqrt((12 + 5) * (scale - 0.1)) < 1.96 + 0.2
    assert trials_to_settle(2, 2, 10) is None and trials_to_settle(1, 4, 10) is None


GRID = {"ranks": [1, 3, 6, 20], "ps": [0.1, 0.2, 0.4]}


def _table(extra_dop: dict, trials: int = 2, rival: str = "apg") -> pd.DataFrame:
    """DOP and ``rival`` succeed at rank <= 3, p = 0.1; DOP also at ``{(rank, p): trials}``."""
    rows = [
        {
            "method": m,
            "rank": r,
            "p": p,
            "trial": t,
            "success": (r <= 3 and p <= 0.1) or (m == "dop" and t in extra_dop.get((r, p), ())),
            "certified": True,
        }
        for m in ("dop", rival)
        for r in GRID["ranks"]
        for p in GRID["ps"]
        for t in range(trials)
    ]
    return pd.DataFrame(rows)


def _judge(summary: pd.DataFrame, key: str = "dop_region"):
    claim = next(c for c in registry().claims("rpca_phase") if c.key == key)
    return claim.check(claim.settings({"kind": "rpca_phase", **GRID}), {"summary": summary})


def test_a_larger_region_from_few_problems_is_inconclusive():
    # One more grid point, from one problem of two: 1 discordant problem, p = 1.
    ours, verdict = _judge(_table({(6, 0.1): (1,)}))
    assert verdict == INCONCLUSIVE
    assert "APG 2, DOP 3" in ours and "DOP alone recovers 1, APG alone 0" in ours
    assert "p = 1" in ours and "trials per grid point would settle it" in ours


def test_a_larger_region_from_many_problems_holds():
    # Three more grid points, every trial: 6 discordant problems to 0, p = 2 / 2^6 = 0.031.
    ours, verdict = _judge(_table({(6, 0.1): (0, 1), (6, 0.2): (0, 1), (3, 0.2): (0, 1)}))
    assert verdict is True, ours
    assert "DOP alone recovers 6, APG alone 0" in ours and "p = 0.031" in ours


def test_no_larger_region_reads_no_whatever_the_paired_test():
    ours, verdict = _judge(_table({}))
    assert verdict is False and "APG 2, DOP 2" in ours
    # DOP recovers more problems (at grid points it still loses), but no more grid points.
    ours, verdict = _judge(_table({(6, 0.1): (0,), (6, 0.2): (0,), (20, 0.4): (0,)}, trials=4))
    assert verdict is False


def test_the_exact_program_claim_pairs_with_pcp():
    ours, verdict = _judge(
        _table({(6, 0.1): (0, 1), (6, 0.2): (0, 1), (3, 0.2): (0, 1)}, rival="pcp"), "dop_region_exact"
    )
    assert verdict is True and "exact convex program alone 0" in ours


def test_corner_claims_carry_wilson_intervals():
    claim = next(c for c in registry().claims("rpca_phase") if c.key == "easy_corner")
    summary = pd.concat([_table({}), _table({}, rival="pcp")[lambda d: d["method"] == "pcp"]])
    ours, verdict = claim.check(claim.settings({"kind": "rpca_phase", **GRID}), {"summary": summary})
    assert verdict is True
    low, high = wilson_interval(4, 4)
    assert f"dop: 1.00 of 4 trials (95% CI {low:.2f}-{high:.2f})" in ours
    assert np.isclose(low, _wilson_closed_form(4, 4)[0])


def test_the_scorecard_counts_inconclusive_claims_apart():
    from implicit_bias.scorecard import scorecard, to_markdown

    tables = {"ph": {"summary": _table({(6, 0.1): (1,)}), "curves": pd.DataFrame()}}
    card = scorecard("quick", {"ph": {"kind": "rpca_phase", **GRID}}, tables, registry().claims, {})
    verdicts = dict(zip(card["claim_id"], card["holds"], strict=True))
    assert verdicts["ph:dop_region"] == INCONCLUSIVE
    text = to_markdown(card)
    assert "1 inconclusive" in text
    assert HOLDS != INCONCLUSIVE != FAILS


# ---------------------------------------------------------------------------------------
# The convergence gate
# ---------------------------------------------------------------------------------------


def _gated_claim(verdict=True, **kw):
    from implicit_bias.scorecard import Claim

    return Claim(key="lim", text="t", plot="p", paper="", check=lambda s, t: ("ours", verdict), at_limit=True, **kw)


def _judge_rows(claim, rows):
    from implicit_bias.scorecard import _judge

    return _judge(claim, "quick", {"kind": "k"}, {"summary": pd.DataFrame(rows)})


def test_gate_passes_converged_runs():
    ours, verdict = _judge_rows(_gated_claim(), [{"residual": 1e-5, "last_change": 1e-6}] * 3)
    assert verdict == "yes" and "converged: 3 of 3" in ours


def test_gate_flags_a_short_run_and_keeps_what_it_would_read():
    from implicit_bias.scorecard import NOT_CONVERGED

    rows = [{"residual": 1e-5, "last_change": 1e-6}, {"residual": 0.05, "last_change": 1e-6}]
    ours, verdict = _judge_rows(_gated_claim(verdict=False), rows)
    assert verdict == NOT_CONVERGED and "1 of 2" in ours and "would read 'no'" in ours


def test_gate_uses_the_claims_tolerances_and_skips_diverged_runs():
    rows = [
        {"residual": 5e-3, "last_change": 1e-6, "diverged": False},
        {"residual": float("nan"), "last_change": 1.0, "diverged": True},
    ]
    assert _judge_rows(_gated_claim(), rows)[1] == "not converged"
    claim = _gated_claim(limits={"residual_tol": 1e-2, "change_tol": 1e-2})
    assert _judge_rows(claim, rows)[1] == "yes"


def test_gate_without_convergence_columns_reads_no_data():
    ours, verdict = _judge_rows(_gated_claim(), [{"x": 1.0}])
    assert verdict == "no data" and "convergence not recorded" in ours


def test_gate_on_the_claims_own_rows():
    from implicit_bias.scorecard import Claim

    rows = [{"g": 1, "residual": 0.5, "last_change": 0.5}, {"g": 2, "residual": 0.0, "last_change": 0.0}]
    claim = Claim(
        key="k",
        text="t",
        plot="p",
        paper="",
        check=lambda s, t: ("o", True),
        at_limit=lambda s, summary: summary[summary["g"] == 2],
    )
    assert _judge_rows(claim, rows)[1] == "yes"


# ---------------------------------------------------------------------------------------
# Image differences: each seed's value and an interval over seeds
# ---------------------------------------------------------------------------------------


def test_seed_interval_is_scipys_t_interval():
    from scipy import stats

    from implicit_bias.experiments.images import seed_interval

    v = np.array([1.2, 0.4, 0.9, 1.7])
    mean, lo, hi = seed_interval(v)
    want = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(want)
    assert math.isnan(seed_interval([0.3])[1])


def test_side_of_reads_the_interval():
    from implicit_bias.experiments.images import seeds_to_settle, side_of

    assert side_of([2.0, 2.1, 1.9], 0.0) == HOLDS
    assert side_of([-2.0, -2.1, -1.9], 0.0) == FAILS
    assert side_of([1.0, -0.5, 0.8], 0.0) == INCONCLUSIVE
    # Below a threshold: a drop of 0.2 dB clears 0.5.
    assert side_of([0.2, 0.25, 0.15], 0.5, above=False) == HOLDS
    need = seeds_to_settle([1.0, -0.5, 0.8], 0.0)
    from scipy.stats import t

    sd, gap = np.std([1.0, -0.5, 0.8], ddof=1), np.mean([1.0, -0.5, 0.8])
    assert t.ppf(0.975, need - 1) * sd / math.sqrt(need) < gap <= t.ppf(0.975, need - 2) * sd / math.sqrt(need - 1)


def _gallery(diffs: dict) -> pd.DataFrame:
    """DOP's and DIP-l1's last PSNR at p = 0.5, DOP ahead by ``diffs[image][seed]``."""
    rows = []
    for image, per_seed in diffs.items():
        for trial, d in enumerate(per_seed):
            for method, last in (("dop", 30.0 + d), ("dip_l1", 30.0)):
                rows.append(
                    {
                        "method": method,
                        "image": image,
                        "trial": trial,
                        "p": 0.5,
                        "width": 128,
                        "psnr_last": last,
                        "psnr_best": last,
                        "iter_best": 10,
                        "gain_last_20pct": 0.0,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("diffs", "verdict", "text"),
    [
        ({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.2, 1.9]}, HOLDS, "a: +1.00 dB (seeds +1.00, +1.10, +0.90; 95% CI"),
        ({"a": [1.0, 1.1, 0.9], "b": [-2.0, -2.2, -1.9]}, FAILS, "b: -2.03 dB"),
        ({"a": [1.0, 1.1, 0.9], "b": [1.0, -0.8, 0.5]}, INCONCLUSIVE, "the interval contains 0 on b; about"),
    ],
)
def test_image_claim_reads_each_seed_and_the_interval(diffs, verdict, text):
    from implicit_bias.config import kind_defaults
    from implicit_bias.scorecard import scorecard

    settings = {**kind_defaults("image_gallery"), "kind": "image_gallery", "images": sorted(diffs), "tuned_on": []}
    card = scorecard("quick", {"g": settings}, {"g": {"summary": _gallery(diffs)}}, registry().claims, figures={})
    row = card.set_index("claim_id").loc["g:dop_ends_above_dip_l1"]
    assert row["holds"] == verdict and text in row["ours"], row["ours"]
