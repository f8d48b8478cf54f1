"""Does float32 change any DOP verdict of the phase grid? Problem by problem, against float64.

DOP's engine runs the phase grid in float32 by default (``dop_dtype`` in the schema). This
check compares the DOP rows of two runs of the ``rpca_phase`` sweep on the same problems
(the same sweep name and seed, so the same planted matrices and initializations): the
published float32 run and a float64 rerun of a few of its rows. ``make dtype-check`` runs
the float64 rows at the paper size (``configs/dtype_check.yaml``) and compares them with
the published paper-size run::

    python benchmarks/dtype_check.py FLOAT64_SUMMARY FLOAT32_SUMMARY OUT_DIR

Either run may hold problems the other lacks (the float64 rerun covers a few rows); only
the problems in both are compared, and the times are those of the jobs that made them.
It writes ``OUT_DIR/dtype_check.md`` (the verdict, the disagreements and their distance to
the success threshold, the error differences, the DOP compute time of each) and
``OUT_DIR/disagreements.csv``; it prints the Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from implicit_bias.config import kind_defaults

KEY = ["rank", "p", "trial"]
#: A verdict flip this close to the threshold (relative error of X) counts as rounding.
NEAR = 1e-3


def _job_seconds(rows: pd.DataFrame) -> float:
    """The summed wall time of the jobs that made ``rows`` (tables published before the job
    column was named ``job`` call it ``cell``)."""
    job = "job" if "job" in rows else "cell"
    return float(rows.groupby(job)["wall_s"].first().sum())


def _check_dtype(rows: pd.DataFrame, dtype: str, which: str) -> None:
    """Refuse a table whose DOP rows ran in another type than its argument says."""
    if "dtype" in rows and (rows["dtype"].dropna() != dtype).any():
        found = sorted(set(rows["dtype"].dropna()) - {dtype})
        raise SystemExit(f"dtype_check: the {which} table's DOP rows ran in {', '.join(found)}, not {dtype}")


def compare(f64: pd.DataFrame, f32: pd.DataFrame, threshold: float) -> tuple[pd.DataFrame, dict]:
    """The problems of both tables joined on (rank, p, trial), and the facts of the comparison."""
    a = f64[f64["method"] == "dop"].set_index(KEY)
    b = f32[f32["method"] == "dop"].set_index(KEY)
    if a.empty or b.empty:
        raise SystemExit("dtype_check: each table needs the DOP rows of rpca_phase")
    _check_dtype(a, "float64", "float64")
    _check_dtype(b, "float32", "float32")
    common = a.index.intersection(b.index)
    if common.empty:
        raise SystemExit("dtype_check: the two runs have no problem in common")
    if (a.loc[common, "seed"] != b.loc[common, "seed"]).any():
        raise SystemExit("dtype_check: the two runs did not solve the same problems (seeds differ)")
    both = a[["rel_err_X", "success", "seed"]].merge(
        b[["rel_err_X", "success"]], left_index=True, right_index=True, suffixes=("_f64", "_f32")
    )
    both["abs_diff"] = (both["rel_err_X_f64"] - both["rel_err_X_f32"]).abs()
    both["to_threshold"] = (both[["rel_err_X_f64", "rel_err_X_f32"]] - threshold).abs().min(axis=1)
    flips = both[both["success_f64"] != both["success_f32"]]
    points64 = both.groupby(["rank", "p"])["success_f64"].mean()
    points32 = both.groupby(["rank", "p"])["success_f32"].mean()
    facts = {
        "problems": len(both),
        "ranks": sorted(int(r) for r in both.index.get_level_values("rank").unique()),
        "only_f64": len(a.index.difference(b.index)),
        "only_f32": len(b.index.difference(a.index)),
        "flips": len(flips),
        "flips_far": int((flips["to_threshold"] > NEAR).sum()),
        "grid_points": len(points64),
        "grid_points_differ": int((points64 != points32).sum()),
        "max_abs_diff": float(both["abs_diff"].max()),
        "median_abs_diff": float(both["abs_diff"].median()),
        "seconds_f64": _job_seconds(a.loc[common]),
        "seconds_f32": _job_seconds(b.loc[common]),
    }
    return flips.reset_index(), facts


def report(flips: pd.DataFrame, facts: dict, threshold: float) -> str:
    f = facts
    holds = f["flips_far"] == 0
    lines = [
        "# float32 against float64: DOP on the phase grid",
        "",
        f"- Problems compared: {f['problems']}, the ranks {', '.join(map(str, f['ranks']))} of the grid "
        f"(in the float32 run only: {f['only_f32']}; in the float64 run only: {f['only_f64']}).",
        f"- Success verdicts (relative error of X below {threshold:g}) that differ: {f['flips']}, "
        f"of which {f['flips_far']} farther than {NEAR:g} from the threshold.",
        f"- Grid points (rank, p) whose success fraction differs: {f['grid_points_differ']} of {f['grid_points']}.",
        f"- |rel err float64 - rel err float32|: median {f['median_abs_diff']:.2e}, max {f['max_abs_diff']:.2e}.",
        f"- DOP compute of the compared problems (summed time of the jobs that made them): "
        f"float64 {f['seconds_f64']:.0f} s, float32 {f['seconds_f32']:.0f} s "
        f"({f['seconds_f64'] / max(f['seconds_f32'], 1e-9):.2f}x).",
        "",
        "Verdict: "
        + (
            "float32 changes no verdict beyond rounding at the threshold."
            if holds
            else "float32 changes verdicts away from the threshold: it is not a safe default for the engine."
        ),
    ]
    if len(flips):
        lines += [
            "",
            "| rank | p | trial | rel err float64 | rel err float32 | distance to threshold |",
            "|---|---|---|---|---|---|",
        ]
        for r in flips.sort_values(["rank", "p", "trial"]).itertuples():
            lines.append(
                f"| {r.rank} | {r.p:g} | {r.trial} | {r.rel_err_X_f64:.4g} | {r.rel_err_X_f32:.4g} "
                f"| {r.to_threshold:.2e} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("float64", type=Path, help="summary.csv of rpca_phase with DOP in float64")
    ap.add_argument("float32", type=Path, help="summary.csv of rpca_phase with DOP in float32")
    ap.add_argument("out", type=Path, help="folder for dtype_check.md and disagreements.csv")
    args = ap.parse_args(argv)
    threshold = kind_defaults("rpca_phase")["success_threshold"]
    flips, facts = compare(pd.read_csv(args.float64), pd.read_csv(args.float32), threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    flips.to_csv(args.out / "disagreements.csv", index=False)
    text = report(flips, facts, threshold)
    (args.out / "dtype_check.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
