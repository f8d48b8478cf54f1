"""The scale ladder's comparison across rungs (implicit_bias.scale): the margins, the trend and
its prediction against an independent fit, the verdicts it reads, and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from implicit_bias import scale
from implicit_bias.records import write_table


def _rows(
    side: int,
    *,
    images=("a", "b", "c"),
    trials=2,
    dop_last=None,
    code="abc",
    methods=("dip", "dip_l1", "dop"),
    l1_peak=900,
):
    """A gallery summary at one rung: DOP last = dop_last(side, image, trial) (default 30),
    DIP-l1 last 28 / best 31 (at step l1_peak of 2000), DIP best 29, DOP best = last + 0.2."""
    dop_last = dop_last or (lambda side, image, trial: 30.0)
    rows = []
    for image in images:
        for trial in range(trials):
            d = dop_last(side, image, trial)
            values = {
                "dip": (25.0, 29.0, 300),
                "dip_l1": (28.0, 31.0, l1_peak),
                "dop": (d, d + 0.2, 1990),
            }
            for method in methods:
                last, best, it = values[method]
                rows.append(
                    {
                        "method": method,
                        "image": image,
                        "trial": trial,
                        "p": 0.5,
                        "width": side // 4,
                        "steps": 2000,
                        "alpha": 500.0,
                        "psnr_last": last,
                        "psnr_best": best,
                        "psnr_clean_last": last + 0.1,
                        "psnr_clean_best": best + 0.1,
                        "iter_best": it,
                        "gain_last_20pct": 0.05 if method == "dop" else -1.0,
                        "diverged": False,
                        "code": code,
                    }
                )
    return pd.DataFrame(rows)


def _publish(folder, side, gallery, alpha=None, verdicts=None, wall_s=100.0):
    rung = folder / f"{side}px"
    write_table(gallery.assign(sweep=f"scale_{side}"), rung / "results" / f"scale_{side}" / "summary.csv")
    if alpha is not None:
        write_table(alpha, rung / "results" / f"scale_{side}_alpha" / "summary.csv")
    card = pd.DataFrame(
        [
            {"sweep": f"scale_{side}", "claim_id": f"image_gallery:{c}", "holds": v}
            for c, v in (verdicts or {"dop_beats_stopped": "no"}).items()
        ]
    )
    write_table(card, rung / "scorecard.csv")
    (rung / "run.json").write_text(json.dumps({"wall_s": wall_s, "commit": "c0ffee"}))


def test_margins_are_the_claims_differences():
    m = scale.margins(_rows(64, images=("a",), trials=1), scale.METRICS["paper"]).set_index("margin")["value"]
    assert m["dop_minus_l1_last"] == pytest.approx(2.0)  # 30 - 28
    assert m["dop_minus_stopped"] == pytest.approx(-1.0)  # 30 - max(29, 31)
    assert m["dop_best_minus_last"] == pytest.approx(0.2)
    assert m["l1_best_minus_last"] == pytest.approx(3.0)
    # A rung without DIP lacks the margin against the better baseline, and only that one.
    m = scale.margins(_rows(64, images=("a",), trials=1, methods=("dip_l1", "dop")), scale.METRICS["paper"])
    assert "dop_minus_stopped" not in set(m["margin"]) and "dop_minus_l1_last" in set(m["margin"])


def test_the_trend_of_one_image_is_ordinary_least_squares():
    from scipy.stats import linregress, t

    rng = np.random.default_rng(0)
    sides = np.repeat([64, 96, 128, 160], 2)
    y = 0.8 * np.log2(sides) - 3.0 + rng.normal(0, 0.3, len(sides))
    fit = scale.trend(pd.DataFrame({"side": sides, "image": "a", "value": y}))
    ref = linregress(np.log2(sides), y)
    assert fit["slope"] == pytest.approx(ref.slope, rel=1e-10)
    half = t.ppf(0.975, len(y) - 2) * ref.stderr
    assert fit["slope_low"] == pytest.approx(ref.slope - half, rel=1e-8)
    assert fit["dof"] == len(y) - 2
    mean, lo, hi = fit["predict"]["a"]
    assert mean == pytest.approx(ref.intercept + ref.slope * 9.0, rel=1e-8)
    assert lo < mean < hi


def test_the_trend_shares_a_slope_across_images_with_their_own_offsets():
    rows = [
        {"side": s, "image": i, "value": 1.5 * np.log2(s) + off + e}
        for s in (64, 96, 128, 160)
        for i, off in (("a", 0.0), ("b", -10.0))
        for e in (-0.05, 0.05)
    ]
    fit = scale.trend(pd.DataFrame(rows))
    assert fit["slope"] == pytest.approx(1.5, abs=1e-9)
    assert scale.direction(fit["slope_low"], fit["slope_high"]) == "grows"
    assert fit["predict"]["a"][0] == pytest.approx(13.5, abs=1e-9)
    assert fit["predict"]["b"][0] == pytest.approx(3.5, abs=1e-9)


def test_one_rung_gives_no_trend():
    fit = scale.trend(pd.DataFrame({"side": [64, 64], "image": ["a", "a"], "value": [1.0, 2.0]}))
    assert np.isnan(fit["slope"]) and scale.direction(fit["slope_low"], fit["slope_high"]) == "undecided"


@pytest.mark.parametrize(
    "low,high,above,verdict",
    [
        (0.5, 2.0, True, "yes"),
        (-3.0, -1.0, True, "no"),
        (-1.0, 1.0, True, "undecided"),
        (0.1, 0.4, False, "yes"),
        (0.6, 0.9, False, "no"),
        (float("nan"), float("nan"), True, "undecided"),
    ],
)
def test_a_prediction_reads_yes_no_or_undecided(low, high, above, verdict):
    threshold = 0.0 if above else 0.5
    m = scale.Margin("m", "c", "m", threshold, above)
    assert scale.predicted_verdict(m, low, high) == verdict


def test_the_ladder_reads_a_margin_that_grows_yes_and_one_that_falls_no(tmp_path):
    # DOP's last climbs 2 dB per doubling of the side: its margin over DIP-l1 grows, and so
    # does the margin over the better baseline (-1 dB at 64 px), which crosses 0 by 512 px.
    def rising(side, image, trial):
        return 30.0 + 2.0 * np.log2(side / 64) + (0.1 if trial else -0.1)

    for side in (64, 96, 128, 160):
        _publish(tmp_path, side, _rows(side, dop_last=rising))
    done = scale.write(tmp_path)
    assert done["rungs"] == [64, 96, 128, 160]
    for name in ("scale.csv", "margins.csv", "trends.csv", "alpha.csv", "scale.md", "brief.md", "scale.png"):
        assert (tmp_path / name).exists(), name
    fits = pd.read_csv(tmp_path / "trends.csv")
    row = fits[(fits["metric"] == "paper") & (fits["margin"] == "dop_minus_stopped")].iloc[0]
    assert row["slope_per_doubling"] == pytest.approx(2.0, abs=1e-9)
    assert row["predicted_512"] == pytest.approx(-1.0 + 2.0 * 3.0, abs=1e-9)
    text = (tmp_path / "scale.md").read_text()
    assert "DOP last - best oracle-stopped DIP/DIP-l1** (claim `dop_beats_stopped`) grows with the side" in text
    assert "would hold at 512 px on every image" in text
    # DIP-l1's fall from its best does not move: no trend the data can resolve... and with a
    # constant value its interval is a point, 3 dB >= 1 dB: it would hold.
    assert "DIP-l1 best - DIP-l1 last** (claim `dip_l1_needs_early_stop`)" in text

    # Now DOP falls 1 dB per doubling: the margin over DIP-l1 (+2 at 64 px) falls below 0.
    def falling(side, image, trial):
        return 30.0 - 1.0 * np.log2(side / 64) + (0.1 if trial else -0.1)

    for side in (64, 96, 128, 160):
        _publish(tmp_path, side, _rows(side, dop_last=falling))
    scale.write(tmp_path)
    text = (tmp_path / "scale.md").read_text()
    assert "DOP last - DIP-l1 last** (claim `dop_ends_above_dip_l1`) falls with the side" in text
    assert "would still fail at 512 px on 3 of 3 images" in text


def test_a_rung_without_dip_reads_no_data_for_that_margin(tmp_path):
    for side in (64, 96):
        _publish(tmp_path, side, _rows(side, methods=("dip_l1", "dop")))
    scale.write(tmp_path)
    text = (tmp_path / "scale.md").read_text()
    assert "**DOP last - best oracle-stopped DIP/DIP-l1** (claim `dop_beats_stopped`): no data." in text


def test_rungs_of_different_code_are_flagged_and_verdicts_tabled(tmp_path):
    _publish(tmp_path, 64, _rows(64, code="aaa"), verdicts={"dop_beats_stopped": "no", "dop_no_early_stop": "yes"})
    _publish(tmp_path, 96, _rows(96, code="bbb"), verdicts={"dop_beats_stopped": "inconclusive"})
    scale.write(tmp_path)
    text = (tmp_path / "scale.md").read_text()
    assert "**The rungs ran different code** (gallery sweeps: fingerprints aaa, bbb)" in text
    assert "| dop_beats_stopped | no | inconclusive |" in text
    assert "64 px: 1 of 2; 96 px: 0 of 1" in (tmp_path / "brief.md").read_text()


def test_the_alpha_row_pairs_each_alpha_with_the_gallerys_trial(tmp_path):
    gallery = _rows(64)
    sens = gallery[(gallery["method"] == "dop") & (gallery["trial"] == 0)].copy()
    sens = pd.concat([sens.assign(alpha=250.0, psnr_last=27.0), sens.assign(alpha=1000.0, psnr_last=31.0)])
    _publish(tmp_path, 64, gallery, alpha=sens)
    scale.write(tmp_path)
    a = pd.read_csv(tmp_path / "alpha.csv").set_index("alpha")
    assert list(a.index) == [250.0, 500.0, 1000.0]
    assert a.loc[500.0, "runs"] == 3  # the gallery's DOP on the sensitivity trials only (trial 0)
    assert a.loc[250.0, "dop_minus_l1_last"] == pytest.approx(-1.0)  # 27 - 28
    assert a.loc[1000.0, "dop_minus_l1_last"] == pytest.approx(3.0)


def test_runs_not_in_their_regime_are_left_out_and_counted(tmp_path):
    # At 96 px DIP-l1 is still at its best at step 1990 of 2000: not past its peak.
    _publish(tmp_path, 64, _rows(64))
    _publish(tmp_path, 96, _rows(96, l1_peak=1990))
    scale.write(tmp_path)
    table = pd.read_csv(tmp_path / "scale.csv")
    l1 = table[(table["margin"] == "l1_best_minus_last") & (table["metric"] == "paper")]
    assert not l1[l1["side"] == 96]["in_regime"].any() and l1[l1["side"] == 64]["in_regime"].all()
    cells = pd.read_csv(tmp_path / "margins.csv")
    cell = cells[(cells["margin"] == "l1_best_minus_last") & (cells["side"] == 96) & (cells["metric"] == "paper")]
    assert (cell["seeds"] == 0).all() and (cell["not_in_regime"] == 2).all()
    text = (tmp_path / "scale.md").read_text()
    # One rung left in the regime: no trend, and the runs left out are named.
    assert "(claim `dip_l1_needs_early_stop`): one rung only; no trend can be read; runs not in the claim's " in text
    assert "96 px 6 of 6" in text
    # Two rungs give a slope but no prediction at 512 px.
    assert "No prediction at 512 px: it needs 3 rungs or more." in text


def test_no_rung_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no rung"):
        scale.write(tmp_path)


def test_a_prediction_below_a_margins_floor_is_clipped_to_it(tmp_path):
    # DOP's fall from its best shrinks by 0.2 dB per doubling from 0.4 at 64 px: the line
    # crosses 0 (a best minus a last is never negative) before 512 px.
    for side in (64, 96, 128):
        rows = _rows(side)
        drop = 0.4 - 0.2 * np.log2(side / 64)
        dop = rows["method"] == "dop"
        rows.loc[dop, "psnr_best"] = (
            rows.loc[dop, "psnr_last"] + drop + np.where(rows.loc[dop, "trial"] == 0, -0.01, 0.01)
        )
        _publish(tmp_path, side, rows)
    scale.write(tmp_path)
    fits = pd.read_csv(tmp_path / "trends.csv")
    row = fits[(fits["metric"] == "paper") & (fits["margin"] == "dop_best_minus_last")].iloc[0]
    assert row["slope_per_doubling"] == pytest.approx(-0.2, abs=1e-6)
    assert row["predicted_512"] == 0.0 and row["predicted_low"] == 0.0 and bool(row["clipped"])
    assert "clipped at the margin's floor of 0" in (tmp_path / "scale.md").read_text()
