"""The scorecard judges claims from tables, and never passes a claim at a size not run."""

import math

import pandas as pd

from implicit_bias.experiments import registry
from implicit_bias.scorecard import FAILS, HOLDS, INCONCLUSIVE, NO_DATA, NOT_RUN, to_markdown
from implicit_bias.scorecard import scorecard as _scorecard


def scorecard(size, sweeps, tables):
    return _scorecard(size, sweeps, tables, registry().claims, figures={})


SETTINGS = {"kind": "rpca_alpha", "n": 50, "rank": 5, "p": 0.3}


def _alpha_table(best):
    alphas = [1.0, 3.16, math.sqrt(50), 31.6, 100.0]
    rows = []
    for a in alphas:
        for t in range(3):
            err = 0.05 if math.isclose(a, best) else 0.5 + 0.01 * t
            rows.append({"alpha": a, "trial": t, "rel_err_X": err})
    return {"summary": pd.DataFrame(rows), "curves": pd.DataFrame({"iteration": [0]})}


def _verdicts(card):
    return dict(zip(card["claim_id"], card["holds"], strict=True))


def test_alpha_claims_hold_and_fail_on_the_numbers():
    good = _verdicts(scorecard("quick", {"a": SETTINGS}, {"a": _alpha_table(math.sqrt(50))}))
    assert good["a:best_alpha"] == HOLDS and good["a:recovers_at_sqrt_n"] == HOLDS
    bad = _verdicts(scorecard("quick", {"a": SETTINGS}, {"a": _alpha_table(1.0)}))
    assert bad["a:best_alpha"] == FAILS and bad["a:recovers_at_sqrt_n"] == FAILS


def test_claims_are_not_judged_at_a_size_not_run():
    card = scorecard("smoke", {"a": SETTINGS}, {"a": _alpha_table(math.sqrt(50))})
    assert set(card["holds"]) == {NOT_RUN}
    assert "0 of 0 judged claims hold" in to_markdown(card)


def test_missing_tables_are_no_data_not_a_pass():
    card = scorecard("quick", {"a": SETTINGS}, {"a": {"summary": pd.DataFrame(), "curves": pd.DataFrame()}})
    assert set(card["holds"]) == {NO_DATA}


def test_curves_claims():
    its = [0, 100, 200, 300]
    rows = []
    for method, curve in {
        "mf_l1_over": [1, 0.01, 0.2, 0.4],
        "mf_l1_exact": [1, 0.5, 0.05, 0.01],
        "dop": [1, 0.9, 0.2, 0.3],
    }.items():
        rows += [
            {"method": method, "trial": 0, "iteration": i, "rel_err_X": v} for i, v in zip(its, curve, strict=True)
        ]
    summary = pd.DataFrame({"method": ["mf_l1_over", "mf_l1_exact", "dop"], "trial": 0})
    tables = {"c": {"summary": summary, "curves": pd.DataFrame(rows)}}
    v = _verdicts(scorecard("paper", {"c": {"kind": "rpca_curves"}}, tables))
    assert v["c:mf_over_overfits"] == HOLDS  # 0.4 is 40x its minimum 0.01
    assert v["c:mf_exact_recovers"] == HOLDS
    assert v["c:dop_no_early_stop"] == FAILS  # ends at 0.3


def test_a_sweep_without_curves_is_still_judged():
    rows = [
        # DOP also recovers rank 3 at p = 0.4: one grid point more than APG.
        {"method": m, "rank": r, "p": p, "trial": 0, "success": r <= 3 and (p <= 0.1 or (m == "dop" and r == 3))}
        for m in ("apg", "dop")
        for r in (1, 3, 20)
        for p in (0.1, 0.4)
    ]
    settings = {"kind": "rpca_phase", "ranks": [1, 3, 20], "ps": [0.1, 0.4]}
    tables = {"ph": {"summary": pd.DataFrame(rows), "curves": pd.DataFrame()}}
    card = scorecard("quick", {"ph": settings}, tables)
    v = _verdicts(card)
    # Judged, not "no data"; one problem more is not significant (McNemar's exact test).
    assert v["ph:dop_region"] == INCONCLUSIVE
    # No exact-program runs: the claims about it have no data, they do not pass.
    for key in ("easy_corner", "hard_corner", "dop_region_exact", "apg_matches_exact"):
        assert v[f"ph:{key}"] == NO_DATA
        assert "method pcp" in card.set_index("claim_id").loc[f"ph:{key}", "ours"]
    exact = [dict(r, method="pcp") for r in rows if r["method"] == "apg"]
    tables = {"ph": {"summary": pd.DataFrame(rows + exact), "curves": pd.DataFrame()}}
    v = _verdicts(scorecard("quick", {"ph": settings}, tables))
    assert v["ph:easy_corner"] == HOLDS and v["ph:hard_corner"] == HOLDS
    even = [dict(r, success=r["rank"] <= 3 and r["p"] <= 0.1) for r in rows]
    tables = {"ph": {"summary": pd.DataFrame(even), "curves": pd.DataFrame()}}
    assert _verdicts(scorecard("quick", {"ph": settings}, tables))["ph:dop_region"] == FAILS


def test_a_sweep_whose_every_run_diverged_is_scored_so():
    from implicit_bias.scorecard import DIVERGED

    table = _alpha_table(1.0)
    table["summary"]["diverged"] = True
    table["summary"]["rel_err_X"] = float("nan")
    card = scorecard("quick", {"a": SETTINGS}, {"a": table})
    assert set(card["holds"]) == {DIVERGED}
    assert "every run diverged" in card["ours"].iloc[0]
    assert "2 every run diverged" in to_markdown(card)


def test_tables_from_other_code_are_flagged():
    from implicit_bias.scorecard import code_notes

    one = pd.DataFrame({"code": ["aaa", "aaa"]})
    mixed = pd.DataFrame({"code": ["aaa", "bbb"]})
    tables = {"same": {"summary": one}, "stale": {"summary": one}, "mixed": {"summary": mixed}}
    notes = code_notes(tables, {"same": "aaa", "stale": "ccc", "mixed": "aaa"})
    assert notes == [
        "stale: computed with code aaa; this checkout's code for it is ccc",
        "mixed: its results come from different code (aaa, bbb)",
    ]
    text = to_markdown(scorecard("quick", {"a": SETTINGS}, {"a": _alpha_table(1.0)}), "abc", {"a": "aaa"}, notes)
    assert "Code fingerprints: a `aaa`" in text and "**Warning: stale: computed with code aaa" in text


def test_claims_name_the_figure_that_draws_the_sweep():
    figures = {"my_alpha": {"plot": "alpha_sweep", "sweeps": ["a"]}}
    card = _scorecard("quick", {"a": SETTINGS}, {"a": _alpha_table(1.0)}, registry().claims, figures)
    assert set(card["figure"]) == {"my_alpha"}


def test_a_claim_that_raises_is_an_error_row_and_the_rest_stands():
    from implicit_bias.scorecard import ERROR, Claim

    def broken(s, tables):
        raise KeyError("restarted")

    def fine(s, tables):
        return f"{len(tables['summary'])} rows", len(tables["summary"]) > s["least"]

    claims = [
        Claim(key="broken", text="breaks", plot="p", paper="-", check=broken),
        Claim(key="fine", text="more than {least} rows", plot="p", paper="-", check=fine, limits={"least": 2}),
    ]
    card = _scorecard("quick", {"a": {"kind": "k"}}, {"a": _alpha_table(1.0)}, lambda kind: claims, figures={})
    v = _verdicts(card)
    assert v == {"a:broken": ERROR, "a:fine": HOLDS}
    assert card.loc[card["claim_id"] == "a:broken", "ours"].item() == "KeyError: 'restarted'"
    assert card.loc[card["claim_id"] == "a:fine", "claim"].item() == "more than 2 rows"
    assert "1 could not be judged" in to_markdown(card)


def test_a_claim_names_what_its_sweep_lacks_and_is_not_judged():
    from implicit_bias.scorecard import Claim

    called = []
    claim = Claim(
        key="c",
        text="t",
        plot="p",
        paper="-",
        check=lambda s, t: called.append(1) or ("", True),
        needs={"method": ("dop", "dip_l1"), "p": lambda s: [s["level"]]},
    )
    summary = pd.DataFrame({"method": ["dop", "dop"], "p": [0.3, 0.5], "trial": [0, 0]})
    card = _scorecard("quick", {"a": {"kind": "k", "level": 0.5}}, {"a": {"summary": summary}}, lambda k: [claim], {})
    assert card["holds"].item() == NO_DATA and card["ours"].item() == "missing: method dip_l1"
    card = _scorecard("quick", {"a": {"kind": "k", "level": 0.7}}, {"a": {"summary": summary}}, lambda k: [claim], {})
    assert card["ours"].item() == "missing: method dip_l1, p 0.7"
    assert not called


def test_a_limit_may_not_shadow_a_setting():
    from implicit_bias.scorecard import ERROR, Claim

    claim = Claim(key="c", text="t", plot="p", paper="-", check=lambda s, t: ("", True), limits={"n": 3})
    card = _scorecard("quick", {"a": {"kind": "k", "n": 50}}, {"a": _alpha_table(1.0)}, lambda k: [claim], {})
    assert card["holds"].item() == ERROR and "also a setting" in card["ours"].item()


def test_missing_values_read_blank_in_markdown_not_nan():
    card = scorecard("smoke", {"a": SETTINGS}, {"a": _alpha_table(1.0)})
    card["ours"] = float("nan")
    assert "nan" not in to_markdown(card)
