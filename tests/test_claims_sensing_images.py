"""The claims of the sensing and image sweeps, judged on small made-up tables: each reads yes,
no, "no data" (naming what is missing) and, for a claim about a regime, "not reached"."""

import math

import numpy as np
import pandas as pd
import pytest

from implicit_bias.config import kind_defaults
from implicit_bias.experiments import registry
from implicit_bias.scorecard import ERROR, FAILS, HOLDS, NO_DATA, NOT_CONVERGED, NOT_REACHED, NOT_RUN, scorecard

KINDS = ("sensing_init", "sensing_restart", "image_gallery", "image_width", "image_noise")
PAPER_LR = 1.0e-4  # sensing_init's default step
STABLE_LR = 5.0e-11


def _row(kind: str, key: str, tables: dict, size: str = "quick", **settings) -> pd.Series:
    """The scorecard row of claim ``key`` on one sweep of ``kind`` with ``settings`` over the defaults."""
    sweep = {"kind": kind, **kind_defaults(kind), **settings}
    card = scorecard(size, {"s": sweep}, {"s": tables}, registry().claims, figures={})
    assert ERROR not in set(card["holds"]), card[["claim_id", "ours"]].to_string()
    assert not card["claim"].str.contains("cannot fill in").any()
    return card.set_index("claim_id").loc[f"s:{key}"]


def _tables(rows: list[dict], curves: pd.DataFrame | None = None) -> dict:
    return {"summary": pd.DataFrame(rows), "curves": pd.DataFrame({"iteration": [0]}) if curves is None else curves}


#: The convergence gate's columns of a run that has converged (sensing claims about limits).
SETTLED = {"residual": 1e-6, "last_change": 1e-6}


# ---------------------------------------------------------------------------------------
# sensing_init: per (norm, rank) the mean final test error; at the largest norm the paper's
# step diverges and a stable step runs instead.
# ---------------------------------------------------------------------------------------

GOOD_INIT = {
    (1e-3, 2): 1e-30,
    (1e-3, 30): 5e-8,
    (1.0, 2): 1e-30,
    (1.0, 30): 0.02,
    (1e3, 2): 7e7,
    (1e3, 30): 1e10,
}


def _init(errors: dict | None = None, drop=(), stable: bool = True, moving=()) -> dict:
    """``errors`` over :data:`GOOD_INIT`; ``drop`` removes (norm, rank) cells; ``stable``
    False leaves the largest norm with only its diverged paper-step runs; the (norm, rank)
    cells in ``moving`` had not converged (residual 0.01)."""
    errors = {**GOOD_INIT, **(errors or {})}
    rows = []
    for (norm, rank), err in errors.items():
        if (norm, rank) in drop:
            continue
        settled = {"residual": 0.01, "last_change": 0.01} if (norm, rank) in moving else SETTLED
        base = {"method": "gd", "init_norm": norm, "init_rank": rank, **settled}
        for t in range(2):
            if norm == 1e3:
                rows.append({**base, "lr": PAPER_LR, "trial": t, "test_error": math.nan, "diverged": True})
                if stable:
                    rows.append({**base, "lr": STABLE_LR, "trial": t, "test_error": err, "diverged": False})
            else:
                rows.append({**base, "lr": PAPER_LR, "trial": t, "test_error": err * (1 + 0.1 * t), "diverged": False})
    return _tables(rows)


# sensing_restart: per method the final test error, and the test error of U = 0; the paper's
# rows carry variant "paper", and Algorithm 1's rows the records of their restarts.
FIRED = {  # two restarts per run: (step, rank, norm, test error at firing, window ratio)
    "restart_iterations": "102 302",
    "restart_ranks": "27 24",
    "restart_norms": "5 2.5",
    "restart_test_errors": "125.7 0.33",
    "restart_ratios": "0.985071 0.996672",
}


def _restart(
    restarted: float | None = 0.01,
    gd: float | None = 80.0,
    zero: float = 0.5,
    fired: dict | None = None,
    variants: dict | None = None,
    moving=(),
) -> dict:
    """``variants`` maps (tau, window, stop_at_min_rank) to a final test error of every trial;
    the methods (or variants) in ``moving`` had not converged (residual 0.01)."""
    base = {"test_error_at_zero": zero, "diverged": False}
    paper = [(m, v, "paper", 0.998, 100, False) for m, v in (("restarted", restarted), ("gd", gd)) if v is not None]
    extra = [("restarted", v, f"ours_{tau}_{w}_{stop}", tau, w, stop) for (tau, w, stop), v in (variants or {}).items()]
    rows = []
    for m, v, label, tau, w, stop in paper + extra:
        settled = {"residual": 0.01, "last_change": 0.0} if m in moving or label in moving else SETTLED
        records = {**FIRED, **(fired or {})} if m == "restarted" else {k: "" for k in FIRED}
        for t in range(2):
            rows.append(
                {"method": m, "variant": label, "tau": tau, "window": w, "stop_at_min_rank": stop, "trial": t,
                 "test_error": v, **base, **settled, **records}
            )  # fmt: skip
    return _tables(rows)


STOP, TAU995, W1000, TAU997 = (0.998, 100, True), (0.995, 100, False), (0.998, 1000, False), (0.997, 100, False)


# ---------------------------------------------------------------------------------------
# Images: one row per (method, image, p, width, trial). Steps 1000, so a run is past its
# peak when its best came at or before 800, and has plateaued when it gained < 0.1 dB.
# ---------------------------------------------------------------------------------------

STEPS = 1000
RUNS = {
    "dop": {"psnr_last": 30.0, "psnr_best": 30.2, "iter_best": 1000, "gain_last_20pct": 0.05},
    "dip_l1": {"psnr_last": 25.0, "psnr_best": 29.0, "iter_best": 300, "gain_last_20pct": -1.0},
    "dip": {"psnr_last": 15.0, "psnr_best": 28.0, "iter_best": 200, "gain_last_20pct": -5.0},
}


def _image_row(method: str, image: str, p: float, width: int, trial: int, values: dict) -> dict:
    run = {**RUNS[method], **values}
    reported = run["psnr_last"] if method == "dop" else run["psnr_best"]
    return {"method": method, "image": image, "p": p, "width": width, "trial": trial, "psnr": reported, **run}


def _images(images=("a", "b"), ps=(0.5,), methods=("dip", "dip_l1", "dop"), width=16, change=None) -> dict:
    """Two trials of every (method, image, p); ``change`` maps (method, image) to values over :data:`RUNS`."""
    change = change or {}
    rows = [
        _image_row(m, i, p, width, t, change.get((m, i), {}))
        for i in images
        for p in ps
        for m in methods
        for t in range(2)
    ]
    return _tables(rows)


def _width(widths=(("dip_l1", 8), ("dip_l1", 24), ("dop", 24)), change=None) -> dict:
    """The width sweep on one image at p = 0.5; ``change`` maps (method, width) to values."""
    change = change or {}
    rows = [_image_row(m, "a", 0.5, w, t, change.get((m, w), {})) for m, w in widths for t in range(2)]
    return _tables(rows)


WIDTH_RUNS = [{"method": "dip_l1", "width": 8}, {"method": "dip_l1", "width": 24}, {"method": "dop", "width": 24}]


def _noise(dop_minus_l1: dict, ps=(0.1, 0.3, 0.5, 0.7), methods=("dip", "dip_l1", "dop")) -> dict:
    """The corruption sweep on one image: DOP's last iterate minus DIP-l1's, per p."""
    rows = []
    for p in ps:
        for m in methods:
            last = 25.0 + (dop_minus_l1.get(p, 0.0) if m == "dop" else 0.0)
            rows += [_image_row(m, "camera", p, 16, t, {"psnr_last": last}) for t in range(2)]
    return _tables(rows)


F16 = {  # The paper's table (You et al. 2020, supplement).
    0.1: {"dip": 26.19, "dip_l1": 36.15, "dop": 34.91},
    0.3: {"dip": 20.15, "dip_l1": 33.64, "dop": 34.39},
    0.5: {"dip": 16.46, "dip_l1": 29.06, "dop": 31.60},
    0.7: {"dip": 13.91, "dip_l1": 24.80, "dop": 26.99},
}


def _f16(off: float = 0.5, worst: float | None = None, drop=(), image: str = "F16") -> dict:
    """Our F16 PSNRs ``off`` dB from the paper's; the cell (0.5, dop) ``worst`` off if given;
    ``drop`` removes (p, method) cells."""
    rows = []
    for p, cells in F16.items():
        for m, value in cells.items():
            if (p, m) in drop:
                continue
            d = worst if worst is not None and (p, m) == (0.5, "dop") else off
            rows.append(_image_row(m, image, p, 128, 0, {"psnr_last": value + d, "psnr_best": value + d}))
    return _tables(rows)


IMG = {"images": ["a", "b"], "steps": STEPS}
GD_ONLY = {"methods": ["gd"]}

# (kind, claim, case, settings over the defaults, tables, size, verdict, what "ours" names)
CASES = [
    # sensing_init
    ("sensing_init", "low_rank_lower", "yes", {}, _init(), "quick", HOLDS, "norm 1: rank 2"),
    ("sensing_init", "low_rank_lower", "no", {}, _init({(1e-3, 2): 1e-7}), "quick", FAILS, "norm 0.001"),
    ("sensing_init", "low_rank_lower", "no rank 30", {}, _init(drop=[(n, 30) for n in (1e-3, 1.0, 1e3)]), "quick",
     NO_DATA, "init_rank 30"),
    ("sensing_init", "low_rank_lower", "one rank", {"init_ranks": [2]}, _init(drop=[(n, 30) for n in (1e-3, 1.0, 1e3)]),
     "quick", NO_DATA, "a second initialization rank"),
    ("sensing_init", "low_rank_lower", "no norm 1", {}, _init(drop=[(1.0, 2), (1.0, 30)]), "quick", NO_DATA,
     "init_norm 1"),
    ("sensing_init", "norm_one", "yes", {}, _init(), "cpu", HOLDS, "rank 30: 0.021"),
    ("sensing_init", "norm_one", "rank 2 does not recover", {}, _init({(1.0, 2): 1e-5}), "quick", FAILS, "rank 2"),
    ("sensing_init", "norm_one", "rank 30 recovers", {}, _init({(1.0, 30): 5e-5}), "quick", FAILS, "rank 30"),
    ("sensing_init", "norm_one", "no norm 1", {}, _init(drop=[(1.0, 2), (1.0, 30)]), "quick", NO_DATA,
     "init_norm 1"),
    ("sensing_init", "large_norm", "yes", {}, _init(), "paper", HOLDS, "paper's step diverged in 4/4 runs"),
    ("sensing_init", "large_norm", "no", {}, _init({(1e3, 2): 1e-5}), "quick", FAILS, "rank 2: 1e-05"),
    ("sensing_init", "large_norm", "only diverged runs", {}, _init(stable=False), "quick", NO_DATA,
     "a run at norm 1000, rank 2 that did not diverge"),
    # The convergence gate: "no recovery" from a stable step that had not settled says nothing.
    ("sensing_init", "large_norm", "not converged", {}, _init(moving=[(1e3, 2)]), "quick", NOT_CONVERGED,
     "would read 'yes'"),
    ("sensing_init", "norm_one", "not converged", {}, _init(moving=[(1.0, 30)]), "quick", NOT_CONVERGED,
     "would read 'yes'"),
    # Gated on the norm-1 runs only: a run at another norm still moving does not matter.
    ("sensing_init", "norm_one", "other norm moving", {}, _init(moving=[(1e3, 2)]), "quick", HOLDS,
     "converged: 4 of 4"),
    ("sensing_init", "low_rank_lower", "not converged", {}, _init(moving=[(1e-3, 30)]), "quick", NOT_CONVERGED,
     "would read 'yes'"),
    # sensing_restart
    ("sensing_restart", "beats_gd", "yes", {}, _restart(), "quick", HOLDS, "ratio 0.000125"),
    ("sensing_restart", "beats_gd", "no", {}, _restart(restarted=8.8), "cpu", FAILS, "ratio 0.11"),
    # The row says when the trivial point U = 0 would pass the comparison as well, and when not.
    ("sensing_restart", "beats_gd", "U = 0 passes", {}, _restart(zero=0.5), "quick", HOLDS,
     "U = 0 alone, test error ||X||_F^2 = 0.5 (ratio 0.00625), passes it too"),
    ("sensing_restart", "beats_gd", "U = 0 fails", {}, _restart(zero=9.0), "quick", HOLDS, "would not pass it"),
    ("sensing_restart", "beats_gd", "gd only", GD_ONLY, _restart(restarted=None), "quick", NO_DATA,
     "method restarted"),
    ("sensing_restart", "recovers", "yes", {}, _restart(restarted=0.04), "quick", HOLDS, "final test error 0.04"),
    ("sensing_restart", "recovers", "no", {}, _restart(restarted=0.06), "quick", FAILS, "final test error 0.06"),
    ("sensing_restart", "recovers", "gd only", GD_ONLY, _restart(restarted=None), "quick", NO_DATA,
     "method restarted"),
    # The paper's claims judge the paper's rows only: a recovering variant does not count.
    ("sensing_restart", "recovers", "variant recovers", {}, _restart(restarted=0.5, variants={STOP: 1e-20}), "quick",
     FAILS, "final test error 0.5"),
    # The convergence gate: Algorithm 1's run had not settled at the end (a short run).
    ("sensing_restart", "recovers", "not converged", {}, _restart(restarted=0.5, moving=("restarted",)), "quick",
     NOT_CONVERGED, "would read 'no'"),
    ("sensing_restart", "beats_gd", "gd not converged", {}, _restart(moving=("gd",)), "quick", NOT_CONVERGED,
     "would read 'yes'"),
    # ours: every restart of the paper's rule fires while the test error is above 0.1 ||X||^2.
    ("sensing_restart", "ours_fires_far_from_x", "yes", {}, _restart(), "quick", HOLDS,
     "trial 0: 102 (27, 5, 1.3e+02, 0.9851); 302 (24, 2.5, 0.33, 0.9967)"),
    ("sensing_restart", "ours_fires_far_from_x", "no: a restart near X", {},
     _restart(fired={"restart_test_errors": "125.7 0.001"}), "quick", FAILS, "0.001"),
    ("sensing_restart", "ours_fires_far_from_x", "never fired", {},
     _restart(fired={k: "" for k in FIRED}), "quick", NOT_REACHED, "never fired"),
    ("sensing_restart", "ours_fires_far_from_x", "gd only", GD_ONLY, _restart(restarted=None), "quick", NO_DATA,
     "method restarted"),
    ("sensing_restart", "ours_fires_far_from_x", "no records", {},
     _tables([{k: v for k, v in r.items() if k not in FIRED} for r in _restart()["summary"].to_dict("records")]),
     "quick", NO_DATA, "the restart records"),
    # ours: no restart once the rank is r recovers X in every trial.
    ("sensing_restart", "ours_stop_at_r_recovers", "yes", {}, _restart(restarted=0.5, variants={STOP: 1e-20}), "quick",
     HOLDS, "per trial: 2e-20 2e-20 (paper's rule: 1 1)"),
    ("sensing_restart", "ours_stop_at_r_recovers", "no", {}, _restart(restarted=0.5, variants={STOP: 0.1}), "quick",
     FAILS, "per trial: 0.2 0.2"),
    ("sensing_restart", "ours_stop_at_r_recovers", "not converged", {},
     _restart(restarted=0.5, variants={STOP: 0.1}, moving=("ours_0.998_100_True",)), "quick", NOT_CONVERGED,
     "would read 'no'"),
    # The stop at another tau is not the variant this claim is about.
    ("sensing_restart", "ours_stop_at_r_recovers", "no such variant", {},
     _restart(variants={(0.99, 100, True): 1e-20, TAU995: 1e-20}), "quick", NO_DATA, "stops restarting at rank r"),
    # ours: a smaller tau or a longer window recovers X in at least one trial.
    ("sensing_restart", "ours_tau_window_recovers", "yes", {},
     _restart(restarted=0.5, variants={TAU995: 1e-20, W1000: 6.0, TAU997: 1e-20}), "quick", HOLDS, "2 of 4 runs"),
    ("sensing_restart", "ours_tau_window_recovers", "no", {},
     _restart(restarted=0.5, variants={TAU995: 0.3, W1000: 6.0, TAU997: 1e-20}), "quick", FAILS, "0 of 4 runs"),
    # Gated on the runs that recovered only: the W = 1000 runs still moving do not matter.
    ("sensing_restart", "ours_tau_window_recovers", "yes, others moving", {},
     _restart(restarted=0.5, variants={TAU995: 1e-20, W1000: 6.0}, moving=("ours_0.998_1000_False",)), "quick",
     HOLDS, "converged: 2 of 2 runs"),
    ("sensing_restart", "ours_tau_window_recovers", "no variant", {}, _restart(variants={TAU997: 1e-20}), "quick",
     NO_DATA, "tau <= 0.995 or W >= 1000"),
    # image_gallery
    ("image_gallery", "dop_ends_above_dip_l1", "yes", IMG, _images(), "quick", HOLDS, "a: +5.00 dB"),
    ("image_gallery", "dop_ends_above_dip_l1", "no", IMG, _images(change={("dip_l1", "b"): {"psnr_last": 30.5}}),
     "quick", FAILS, "b: -0.50 dB"),
    ("image_gallery", "dop_ends_above_dip_l1", "dop only", {**IMG, "methods": ["dop"]}, _images(methods=("dop",)),
     "quick", NO_DATA, "method dip_l1"),
    ("image_gallery", "dop_ends_above_dip_l1", "p = 0.3 only", {**IMG, "p": [0.3]}, _images(ps=(0.3,)), "quick",
     NO_DATA, "p 0.5"),
    ("image_gallery", "dop_ends_above_dip_l1", "image b lacks DIP-l1", IMG,
     _tables([r for r in _images()["summary"].to_dict("records") if (r["method"], r["image"]) != ("dip_l1", "b")]),
     "quick", NO_DATA, "dip_l1 on b at p = 0.5"),
    ("image_gallery", "dop_no_early_stop", "yes", IMG, _images(), "quick", HOLDS, "a: 0.20 dB"),
    ("image_gallery", "dop_no_early_stop", "no", IMG, _images(change={("dop", "a"): {"psnr_best": 30.6}}), "quick",
     FAILS, "a: 0.60 dB"),
    ("image_gallery", "dop_no_early_stop", "still climbing", IMG,
     _images(change={("dop", i): {"gain_last_20pct": 0.3} for i in "ab"}), "quick", NOT_REACHED, "still climbing"),
    ("image_gallery", "dop_no_early_stop", "p = 0.3 only", {**IMG, "p": [0.3]}, _images(ps=(0.3,)), "quick", NO_DATA,
     "p 0.5"),
    ("image_gallery", "dop_no_early_stop", "no image b", IMG, _images(images=("a",)), "quick", NO_DATA, "image b"),
    ("image_gallery", "dip_l1_needs_early_stop", "yes", IMG, _images(), "quick", HOLDS, "b: 4.00 dB"),
    ("image_gallery", "dip_l1_needs_early_stop", "yes on half", IMG,
     _images(change={("dip_l1", "b"): {"psnr_last": 28.5}}), "quick", HOLDS, "b: 0.50 dB"),
    ("image_gallery", "dip_l1_needs_early_stop", "no", {**IMG, "images": ["a", "b", "c"]},
     _images(images=("a", "b", "c"), change={("dip_l1", i): {"psnr_last": 28.5} for i in "bc"}), "quick", FAILS,
     "c: 0.50 dB"),
    ("image_gallery", "dip_l1_needs_early_stop", "not past its peak", IMG,
     _images(change={("dip_l1", i): {"iter_best": 900} for i in "ab"}), "quick", NOT_REACHED, "near its best"),
    ("image_gallery", "dip_l1_needs_early_stop", "dop only", {**IMG, "methods": ["dop"]}, _images(methods=("dop",)),
     "quick", NO_DATA, "method dip_l1"),
    ("image_gallery", "dip_l1_needs_early_stop", "p = 0.3 only", {**IMG, "p": [0.3]}, _images(ps=(0.3,)), "quick",
     NO_DATA, "p 0.5"),
    ("image_gallery", "dop_beats_stopped", "yes", IMG, _images(), "quick", HOLDS, "a: +1.00 dB"),
    # DIP (not DIP-l1) early-stopped beats DOP on image a.
    ("image_gallery", "dop_beats_stopped", "no", IMG, _images(change={("dip", "a"): {"psnr_best": 30.5}}), "quick",
     FAILS, "a: -0.50 dB"),
    ("image_gallery", "dop_beats_stopped", "dop only", {**IMG, "methods": ["dop"]}, _images(methods=("dop",)), "quick",
     NO_DATA, "method dip, method dip_l1"),
    ("image_gallery", "dop_beats_stopped", "p = 0.3 only", {**IMG, "p": [0.3]}, _images(ps=(0.3,)), "quick", NO_DATA,
     "p 0.5"),
    # image_width
    ("image_width", "width_overfits", "yes", {"runs": WIDTH_RUNS, "steps": STEPS}, _width(), "cpu", HOLDS,
     "DIP-l1 width 24 falls 4.00 dB from its best; DOP falls 0.20 dB"),
    ("image_width", "width_overfits", "DIP-l1 holds up", {"runs": WIDTH_RUNS, "steps": STEPS},
     _width(change={("dip_l1", 24): {"psnr_last": 28.5, "iter_best": 200}}), "quick", FAILS, "falls 0.50 dB"),
    ("image_width", "width_overfits", "DOP falls", {"runs": WIDTH_RUNS, "steps": STEPS},
     _width(change={("dop", 24): {"psnr_best": 30.6}}), "quick", FAILS, "DOP falls 0.60 dB"),
    ("image_width", "width_overfits", "DIP-l1 not past its peak", {"runs": WIDTH_RUNS, "steps": STEPS},
     _width(change={("dip_l1", 24): {"iter_best": 900}}), "quick", NOT_REACHED, "not past its peak"),
    ("image_width", "width_overfits", "DOP climbing", {"runs": WIDTH_RUNS, "steps": STEPS},
     _width(change={("dop", 24): {"gain_last_20pct": 0.4}}), "quick", NOT_REACHED, "DOP gaining 0.40 dB"),
    ("image_width", "width_overfits", "one DIP-l1 width", {"runs": WIDTH_RUNS[1:], "steps": STEPS},
     _width(widths=(("dip_l1", 24), ("dop", 24))), "quick", NO_DATA, "a second DIP-l1 width"),
    ("image_width", "width_overfits", "width 8 missing", {"runs": WIDTH_RUNS, "steps": STEPS},
     _width(widths=(("dip_l1", 24), ("dop", 24))), "quick", NO_DATA, "width 8"),
    ("image_width", "width_overfits", "DOP at another width",
     {"runs": [*WIDTH_RUNS[:2], {"method": "dop", "width": 8}], "steps": STEPS},
     _width(widths=(("dip_l1", 8), ("dip_l1", 24), ("dop", 8))), "quick", NO_DATA, "dop at width 24"),
    ("image_width", "width_overfits", "no DOP", {"runs": WIDTH_RUNS[:2], "steps": STEPS},
     _width(widths=(("dip_l1", 8), ("dip_l1", 24))), "quick", NO_DATA, "method dop"),
    # image_noise
    ("image_noise", "paper_psnr_table", "yes", {}, _f16(0.5), "paper", HOLDS, "largest difference 0.50 dB"),
    ("image_noise", "paper_psnr_table", "no", {}, _f16(0.5, worst=-1.5), "paper", FAILS, "largest difference 1.50 dB"),
    ("image_noise", "paper_psnr_table", "p = 0.7 missing", {}, _f16(drop=[(0.7, m) for m in ("dip", "dip_l1", "dop")]),
     "paper", NO_DATA, "p 0.7"),
    ("image_noise", "paper_psnr_table", "one cell missing", {}, _f16(drop=[(0.1, "dip")]), "paper", NO_DATA,
     "dip on F16 at p = 0.1"),
    ("image_noise", "paper_psnr_table", "another image", {"images": ["camera"]}, _f16(image="camera"), "paper",
     NO_DATA, "image F16"),
    ("image_noise", "paper_psnr_table", "quick", {}, _f16(0.5), "quick", NOT_RUN, ""),
    # DOP behind at p = 0.1 does not count: the claim is about p >= 0.3.
    ("image_noise", "dop_ends_above_dip_l1", "yes", {"images": ["camera"]}, _noise({0.1: -3.0, 0.3: 0.0, 0.7: 2.0}),
     "quick", HOLDS, "p=0.3: +0.00 dB; p=0.5: +0.00 dB; p=0.7: +2.00 dB"),
    ("image_noise", "dop_ends_above_dip_l1", "no", {"images": ["camera"]}, _noise({0.3: -0.8, 0.7: 2.0}), "quick",
     FAILS, "p=0.3: -0.80 dB"),
    ("image_noise", "dop_ends_above_dip_l1", "low p only", {"images": ["camera"], "p": [0.1]},
     _noise({}, ps=(0.1,)), "quick", NO_DATA, "a corruption level p >= 0.3"),
    ("image_noise", "dop_ends_above_dip_l1", "p = 0.5 missing", {"images": ["camera"]},
     _noise({}, ps=(0.1, 0.3, 0.7)), "quick", NO_DATA, "p 0.5"),
    ("image_noise", "dop_ends_above_dip_l1", "dop only", {"images": ["camera"], "methods": ["dop"]},
     _noise({}, methods=("dop",)), "quick", NO_DATA, "method dip_l1"),
    ("image_noise", "dop_ends_above_dip_l1", "DIP-l1 only at p = 0.1", {"images": ["camera"], "p": [0.1, 0.5]},
     _tables([
         r for r in _noise({}, ps=(0.1, 0.5))["summary"].to_dict("records") if (r["method"], r["p"]) != ("dip_l1", 0.5)
     ]), "quick", NO_DATA, "dip_l1 at p = 0.5"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}:{c[2]}" for c in CASES])
def test_claim_verdict(case):
    kind, key, _, settings, tables, size, verdict, names = case
    row = _row(kind, key, tables, size, **settings)
    assert row["holds"] == verdict, row["ours"]
    assert names in row["ours"]
    if verdict == NO_DATA:
        assert "missing" in row["ours"]


def test_every_claim_reads_yes_no_and_no_data():
    """Each claim of these kinds has a case for each verdict above, and one of "not reached"
    where it is about a regime."""
    regime = {("image_gallery", "dop_no_early_stop"), ("image_gallery", "dip_l1_needs_early_stop")}
    regime.add(("image_width", "width_overfits"))
    seen = {}
    for kind, key, *_, verdict, _names in CASES:
        seen.setdefault((kind, key), set()).add(verdict)
    claims = {(kind, c.key) for kind in KINDS for c in registry().claims(kind)}
    assert set(seen) == claims
    for claim in claims:
        wanted = {HOLDS, FAILS, NO_DATA} | ({NOT_REACHED} if claim in regime else set())
        assert wanted <= seen[claim], claim


def test_a_restart_sweep_of_gd_alone_is_no_data_not_an_error():
    sweep = {"kind": "sensing_restart", **kind_defaults("sensing_restart"), **GD_ONLY}
    card = scorecard("quick", {"r": sweep}, {"r": _restart(restarted=None)}, registry().claims, figures={})
    assert set(card["holds"]) == {NO_DATA} and len(card) == len(registry().claims("sensing_restart"))


def test_the_variant_claims_say_they_are_ours():
    claims = registry().claims("sensing_restart")
    ours = [c for c in claims if c.key.startswith("ours_")]
    assert len(ours) == 3
    for c in ours:
        assert c.text.startswith("(ours") and "not" in c.paper
    # The paper's comparison with plain GD says what the trivial point U = 0 would score.
    assert "U = 0 alone" in _row("sensing_restart", "beats_gd", _restart(zero=0.5))["ours"]


def test_a_gallery_of_dop_alone_judges_only_dop():
    sweep = {"kind": "image_gallery", **kind_defaults("image_gallery"), **IMG, "methods": ["dop"]}
    card = scorecard("quick", {"g": sweep}, {"g": _images(methods=("dop",))}, registry().claims, figures={})
    verdicts = dict(zip(card["claim_id"], card["holds"], strict=True))
    assert verdicts == {
        "g:dop_ends_above_dip_l1": NO_DATA,
        "g:dop_no_early_stop": HOLDS,
        "g:dip_l1_needs_early_stop": NO_DATA,
        "g:dop_beats_stopped": NO_DATA,
    }


def test_claim_texts_state_their_thresholds():
    sweep = {"kind": "image_gallery", **kind_defaults("image_gallery")}
    card = scorecard("quick", {"g": sweep}, {"g": _images()}, registry().claims, figures={})
    texts = dict(zip(card["claim_id"], card["claim"], strict=True))
    assert texts["g:dop_no_early_stop"].startswith("At p = 0.5, DOP needs no early stopping")
    assert "< 0.1 dB over the last 20%" in texts["g:dop_no_early_stop"]
    assert "best before 80% of the steps" in texts["g:dip_l1_needs_early_stop"]
    assert ">= 1 dB below its best on at least 50% of the images" in texts["g:dip_l1_needs_early_stop"]


def test_the_unperturbed_metric_is_shown_beside_and_not_judged():
    """A gallery whose paper-metric numbers say no and whose unperturbed-input numbers would
    say yes reads no, with the unperturbed numbers in the row; the row names the baselines'
    optimizer."""
    tables = _images(change={("dip_l1", "b"): {"psnr_last": 30.5}})
    summary = tables["summary"]
    summary["psnr_clean_last"] = summary["psnr_last"] - np.where(summary["method"] == "dip_l1", 1.0, 0.0)
    summary["psnr_clean_best"] = summary["psnr_best"]
    row = _row("image_gallery", "dop_ends_above_dip_l1", tables, "quick", **IMG)
    assert row["holds"] == FAILS
    assert "The same on the unperturbed input (ours, not judged): a: +6.00 dB" in row["ours"]
    assert "b: +0.50 dB" in row["ours"] and "baselines by plain SGD, lr 1" in row["ours"]
    adam = _row("image_gallery", "dop_beats_stopped", tables, "quick", **IMG, baseline_optimizer="adam")
    assert "baselines by Adam, lr 0.01" in adam["ours"] and "unperturbed input" in adam["ours"]
    # Tables without the unperturbed metric (runs before it was recorded) show the paper's only.
    plain = _row("image_gallery", "dop_ends_above_dip_l1", _images(), "quick", **IMG)
    assert plain["holds"] == HOLDS and "unperturbed" not in plain["ours"]
