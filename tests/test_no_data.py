"""Sweeps a user adds without code, each leaving out a method, a level or a grid point that
some claims compare: the run ends with exit 0 and exactly those claims read "no data"
(naming what is missing); every other claim of those sweeps is judged or says why not."""

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

#: Tiny budgets at the quick size (a size's kind overlay beats a sweep's own block, so the
#: budgets go under sizes.quick.sweeps).
IMAGE_BUDGET = {"image_size": 64, "widths": [4], "steps": 20, "record_every": 10, "checkpoint_every": 10, "trials": 1}
IMAGES = {"image_source": "skimage", "images": ["camera"], "tuned_on": []}

#: name -> (the sweep's block, its budget at the quick size, the claims that must read "no data").
SWEEPS = {
    # MF-l1 left out: only DOP's claim can be judged.
    "nd_curves": (
        {"kind": "rpca_curves", "methods": ["dop"]},
        {"trials": 1, "steps": 200, "record_every": 50},
        {"mf_over_overfits", "mf_exact_recovers"},
    ),
    # An alpha grid that does not reach a factor 1.5 below sqrt(n): "best alpha" cannot be told.
    "nd_alpha": (
        {"kind": "rpca_alpha", "n": 20, "rank": 2, "alpha_min": 4.0, "alpha_max": 9.0},
        {"alpha_num": 2, "trials": 1, "steps": 200, "record_every": 100},
        {"best_alpha"},
    ),
    # The exact convex program left out.
    "nd_phase_methods": (
        {"kind": "rpca_phase", "n": 20, "methods": ["apg", "dop"], "ranks": [1, 8], "ps": [0.05, 0.4]},
        {"ranks": [1, 8], "ps": [0.05, 0.4], "trials": 1, "steps": 200, "ranks_per_job": 2},
        {"easy_corner", "hard_corner", "dop_region_exact", "apg_matches_exact"},
    ),
    # No grid point in the easy corner (rank <= 3, p <= 0.1) nor in the hard one (rank >= 20, p >= 0.4).
    "nd_phase_grid": (
        {"kind": "rpca_phase", "n": 20, "ranks": [6, 8], "ps": [0.2, 0.3]},
        {"ranks": [6, 8], "ps": [0.2, 0.3], "trials": 1, "steps": 200, "ranks_per_job": 2},
        {"easy_corner", "hard_corner"},
    ),
    # No run at ||U0||_F = 1.
    "nd_init_norms": (
        {"kind": "sensing_init", "n": 10, "init_ranks": [2, 10], "init_norms": [0.001, 1000.0]},
        {"trials": 1, "steps": 100, "record_every": 50},
        {"norm_one"},
    ),
    # One initialization rank: nothing to compare it with.
    "nd_init_rank": (
        {"kind": "sensing_init", "n": 10, "init_ranks": [2]},
        {"trials": 1, "steps": 100, "record_every": 50},
        {"low_rank_lower", "norm_one", "large_norm"},
    ),
    # Plain gradient descent only.
    "nd_restart": (
        {"kind": "sensing_restart", "n": 10, "init_rank": 10, "methods": ["gd"]},
        {"trials": 1, "steps": 200, "window": 50, "record_every": 50},
        {"beats_gd", "recovers", "ours_fires_far_from_x", "ours_stop_at_r_recovers", "ours_tau_window_recovers"},
    ),
    # One initialization scale: no trend to read; lambda = 1/alpha alone: no scan.
    "nd_theorem1": (
        {
            "kind": "theory_theorem1",
            "n": 6,
            "m": 12,
            "rank": 1,
            "alphas": [1.0, 10.0],
            "gammas": [1.0e-3],
            "lambda_factors": [1.0],
        },
        {"trials": 1, "steps": 500, "record_every": 250},
        {"gap_falls", "lambda_scan"},
    ),
    # From zero only: no control of the condition theta0 = 0.
    "nd_weighted": (
        {"kind": "theory_weighted_min_norm", "random_start_std": 0.0},
        {"rows": 5, "dim": 12, "trials": 1, "steps": 200, "record_every": 100},
        {"random_start"},
    ),
    # DOP alone: nothing to compare it with.
    "nd_gallery_dop": (
        {"kind": "image_gallery", "methods": ["dop"], **IMAGES},
        IMAGE_BUDGET,
        {"dop_ends_above_dip_l1", "dip_l1_needs_early_stop", "dop_beats_stopped"},
    ),
    # Not at p = 0.5, the level the gallery's claims are about.
    "nd_gallery_p": (
        {"kind": "image_gallery", "p": [0.3], **IMAGES},
        IMAGE_BUDGET,
        {"dop_ends_above_dip_l1", "dop_no_early_stop", "dip_l1_needs_early_stop", "dop_beats_stopped"},
    ),
    # One width: no wider network to overfit.
    "nd_width": (
        {"kind": "image_width", "runs": [{"method": "dip_l1", "width": 4}, {"method": "dop", "width": 4}], **IMAGES},
        {k: v for k, v in IMAGE_BUDGET.items() if k != "widths"},
        {"width_overfits"},
    ),
    # No corruption level of 0.3 or more.
    "nd_noise": (
        {"kind": "image_noise", "p": [0.1], **IMAGES},
        IMAGE_BUDGET,
        {"dop_ends_above_dip_l1"},
    ),
}


@pytest.mark.slow
def test_sweeps_that_leave_out_what_a_claim_compares_read_no_data(tmp_path):
    overlay = {
        "only": list(SWEEPS),
        "sweeps": {name: block for name, (block, _, _) in SWEEPS.items()},
        "sizes": {"quick": {"sweeps": {name: budget for name, (_, budget, _) in SWEEPS.items()}}},
    }
    path = tmp_path / "sweeps.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    # One process per sweep (pack_jobs): the verdicts do not depend on it, the start-ups are spared.
    proc = run_snakemake(
        tmp_path, "--cores", "2", "--configfile", str(path), "--config", "pack_jobs=True", check=False, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    card = pd.read_csv(tmp_path / "results" / "scorecard.csv")
    assert set(card["sweep"]) == set(SWEEPS)
    assert "error" not in set(card["holds"]), card[card["holds"] == "error"][["claim_id", "ours"]].to_string()
    for name, (_, _, lacking) in SWEEPS.items():
        rows = card[card["sweep"] == name]
        no_data = {cid.split(":", 1)[1] for cid in rows.loc[rows["holds"] == "no data", "claim_id"]}
        assert no_data == lacking, (name, rows[["claim_id", "holds", "ours"]].to_string())
        # Each says what is missing, in words.
        assert rows.loc[rows["holds"] == "no data", "ours"].str.len().gt(0).all(), name
    md = (tmp_path / "results" / "scorecard.md").read_text()
    assert "without data" in md
