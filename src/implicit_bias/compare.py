"""Compare a run with a published one, claim by claim and number by number, each number within
the tolerance stated for it.

``python -m implicit_bias.compare RUN_DIR PUBLISHED_DIR`` (or ``make compare RUN=.
AGAINST=docs/default``) reads two runs, each either a run folder (``results/scorecard.csv``
and ``results/<sweep>/summary.csv``, ``curves.csv``: the repository root, or a folder made
with ``snakemake --directory``) or a published folder under ``docs/`` (``scorecard.csv``
beside ``results/``), and reports:

* the verdicts (the scorecard's ``holds``), which must be equal;
* every number of every sweep's ``summary.csv``, row by row: rows are joined on their
  identifying columns (:data:`KEY_COLUMNS`: the sweep, method, trial, seed and the grid's
  settings; a column this module does not know is a key when it holds integers or text, a
  number when it holds floats or flags), and bookkeeping (:data:`SKIP_COLUMNS`: times, the
  device, the code's fingerprint, the job's name and batch size) is left out;
* every number of every ``curves.csv``, where a curve is identified by the columns up to its
  ``iteration`` and compared at the iterations both runs recorded (published curves may be
  thinned to every k-th iteration);
* anything present on one side only: a sweep, a claim, a row, a curve or a column. That is
  never a pass.

Each number agrees when ``|ours - published| <= max(rel * max(|ours|, |published|), floor)``:
a relative tolerance, with an absolute floor for numbers that are rounding noise themselves
(a distance of 1e-15 to a closed form, a training error of 1e-28). The report's "rel diff" is
``|ours - published| / max(|ours|, |published|, floor / rel)``, so a number agrees exactly
when its rel diff is at most ``rel``. Flags and text (``success``, ``restart_iterations``)
must be equal. The tolerances are :data:`TOLERANCES`, one rule per metric, each with why.

How the tolerances were chosen. Two runs of the same code, settings and seeds differ only in
how floating-point sums are rounded, which depends on the kernels the CPU gets (MKL's and
oneDNN's code paths, ATen's vector width) and on the thread count. Measured on the 2-core
AMD EPYC (AVX2) the published runs were made on, with ``benchmarks/rounding_check.py``
(quick size; rpca_curves, sensing_init, sensing_restart, theory_weighted_min_norm,
rpca_alpha, theory_alpha_lambda, theory_theorem1's first job, rpca_phase's APG job and
one image_width job; about 15 CPU minutes):

* rerun as published (1 thread): rpca_curves, sensing_init, sensing_restart and
  theory_weighted_min_norm reproduce ``docs/default`` to all 10 written digits;
* with other kernels (``ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE
  ONEDNN_MAX_CPU_ISA=SSE41``: MKL's generic code path instead of its AVX2 one, ATen's and
  oneDNN's narrower loops; sums are ordered as on a CPU with other vector units): closed
  forms and theory checks moved by at most 2.5e-9, gradient descent on matrix sensing
  1.3e-10, APG 1.7e-7, DOP nothing in rpca_alpha and rpca_curves but 6.2e-4 in
  theory_alpha_lambda at alpha = 1 (far from converged), the convex solver's solution 0.55%
  (its duality gap at the stop 57%), MF-l1's final error 9.6% per trial and 14% along its
  curve, the images' final PSNR 1.5% (0.4 dB), along the curve 18%. MF-l1's mean final
  error went from 0.00381 to 0.00398: the very numbers a user reported from an Intel Xeon
  against ``docs/default``;
* with 2 threads instead of 1: rpca_curves and sensing did not move, theory_weighted_min_norm
  by 4e-11, the images about as much as above (final PSNR 1.7%, the last step's 2.9%);
* ``docs/default`` against ``docs/paper``, where their settings coincide (rpca_alpha,
  rpca_phase, theory_alpha_lambda, theory_weighted_min_norm, MF-l1's final errors; solved in
  batches of other sizes): identical to all written digits;
* ``docs/dtype_check``: float32 instead of float64 moves DOP's error on the phase grid by at
  most 9.2e-6, far more than rounding order does.

So smooth computations (closed forms, convex optima, gradient descent near convergence),
whose changes scale with the unit roundoff, get a power of ten 40x or more above the largest
change measured (1e-7 for the theory checks, 1e-6 for sensing, 1e-4 for APG); computations that
amplify rounding into another path (MF-l1's subgradient steps, the networks of the image
sweeps, DOP far from convergence, where a solver stops) get about 2-4x the largest change
measured, which is about the spread between trials (a path that rounding has sent elsewhere
is, at worst, like one from another random start). Each rule in :data:`TOLERANCES` says its
measurement. Counts and flags that follow discrete decisions (restarts, divergence) must be
equal. The image tolerances were measured on one quick-size job; longer runs (the cpu and
paper sizes) may drift further.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .records import read_table


@dataclass(frozen=True)
class Tolerance:
    """How close a metric's numbers must be.

    :param metric: a shell pattern on the column's name.
    :param rel: the relative tolerance (0 with ``floor`` 0: the values must be equal).
    :param floor: the absolute difference always allowed (numbers below ``floor / rel`` are
        rounding noise: their relative difference means nothing).
    :param why: the reason for this tolerance, with the largest change measured (see the
        module docstring).
    :param sweep: a shell pattern on the sweep's name.
    :param method: a shell pattern on the row's ``method``.
    :param table: ``summary``, ``curves`` or ``*``.
    """

    metric: str
    rel: float
    floor: float
    why: str
    sweep: str = "*"
    method: str = "*"
    table: str = "*"

    def label(self) -> str:
        """The tolerance in words, as the report shows it."""
        if self.rel == 0 and self.floor == 0:
            return "exact"
        return f"rel {self.rel:g}, floor {self.floor:g}"

    def matches(self, sweep: str, method: str, metric: str, table: str = "summary") -> bool:
        """Whether this rule covers ``metric`` of a row of ``method`` in ``sweep``'s ``table``."""
        return all(
            fnmatch.fnmatchcase(value, pattern)
            for value, pattern in (
                (metric, self.metric),
                (sweep, self.sweep),
                (method, self.method),
                (table, self.table),
            )
        )


# Why each tolerance: "measured" is the largest change seen between the published run and the
# same jobs rerun with narrowed kernels or another thread count (module docstring).
_SMOOTH = "a power of ten 40x or more above it, as rounding in a smooth computation scales with the unit roundoff"
#: The tolerance of each metric: the first rule that matches (sweep, method, column, table) wins.
#: Sweeps are named as in config.yaml; a sweep of another name gets the method rules and the default.
TOLERANCES: tuple[Tolerance, ...] = (
    # Closed forms and gradient descent on smooth problems to (near) convergence.
    Tolerance("*", 1e-7, 1e-12, f"theory checks; measured 2.5e-9; {_SMOOTH}", sweep="theory_theorem1"),
    Tolerance(
        "*", 1e-7, 1e-12, f"closed form and its GD limit; measured 1.3e-9; {_SMOOTH}", "theory_weighted_min_norm"
    ),
    Tolerance("restarts", 0, 0, "a count of discrete decisions: equal or the run took another path", "sensing_*"),
    Tolerance("final_init_rank", 0, 0, "set by the restarts: equal or the run took another path", "sensing_*"),
    Tolerance("steps_run", 0, 0, "a discrete outcome: equal or the run took another path", "sensing_*"),
    Tolerance("diverged_at", 0, 0, "a discrete outcome: equal or the run took another path", "sensing_*"),
    Tolerance(
        "*", 1e-6, 1e-12, f"GD on matrix sensing; measured 1.3e-10; {_SMOOTH} (errors of 1e-28 are noise)", "sensing_*"
    ),
    # Deep image prior: hundreds of float32 steps of a network whose training amplifies rounding;
    # the changes measured are of the size of the spread between trials.
    Tolerance("psnr_input", 1e-7, 1e-12, "the corrupted image's PSNR, from the data alone; measured 0", "image_*"),
    Tolerance("psnr", 0.5, 0, "PSNR along the curve; measured 18% (early, unstable steps)", "image_*", table="curves"),
    Tolerance(
        "psnr_clean", 0.5, 0, "the unperturbed output's PSNR along the curve, as psnr", "image_*", table="curves"
    ),
    Tolerance("loss", 0.3, 0, "the training loss along the curve; measured 9.8%", "image_*", table="curves"),
    Tolerance(
        "psnr_last", 0.1, 0, "the last step's PSNR; measured 2.9% (between trials: median 3%, up to 20%)", "image_*"
    ),
    Tolerance(
        "psnr*", 0.05, 0, "the final / best PSNR; measured 1.7% (between trials: median 1-2.5%, up to 7%)", "image_*"
    ),
    Tolerance("loss_last", 0.05, 0, "the last training loss; measured 1.3%", "image_*"),
    Tolerance("gain_last_20pct", 0.5, 3.0, "a difference of two PSNRs (dB); measured 0.9 dB", "image_*"),
    Tolerance("iter_best", 0.3, 150, "where the PSNR peaks on a flat top; measured 50 iterations", "image_*"),
    # MF-l1: subgradient steps on a nonsmooth loss amplify rounding into a different path.
    Tolerance("rel_err_X_best", 0.02, 1e-5, "MF-l1's lowest error; measured 0.57%", method="mf_l1*"),
    Tolerance(
        "rel_err_*",
        0.3,
        1e-4,
        "MF-l1's error; measured 9.6% (final), 14% (curves); a Xeon user saw 4% (mean)",
        method="mf_l1*",
    ),
    Tolerance("loss", 1e-3, 1e-9, "MF-l1's l1 loss along the curve; measured 3.2e-4", method="mf_l1*"),
    # Convex solvers, run to a tolerance: what they stop at depends on the path.
    Tolerance(
        "convex_gap",
        1.0,
        1e-5,
        "the convex solver's duality gap at its stop; measured 57%: any value below its tolerance is as good",
    ),
    Tolerance("gap", 1.0, 1e-5, "the convex solver's duality gap at its stop, as convex_gap"),
    Tolerance("objective_convex", 1e-5, 1e-9, "the convex optimum, certified to a 1e-6 relative gap; measured 1e-7"),
    Tolerance(
        "*_convex", 0.02, 1e-5, "the convex solution's error, accurate to the solver's tolerance; measured 0.55%"
    ),
    Tolerance("rel_err_*", 0.02, 1e-5, "the convex solution's error, as *_convex", method="pcp"),
    Tolerance("iterations", 0.05, 2, "a solver's iteration count: its stopping test may pass a step or two apart"),
    Tolerance(
        "rel_err_*", 1e-4, 1e-9, f"APG's error, stopped at a 1e-7 residual; measured 1.7e-7; {_SMOOTH}", method="apg"
    ),
    # DOP: 20,000 steps; far from convergence (a bad alpha) rounding grows along the path.
    Tolerance(
        "*",
        2e-3,
        1e-6,
        "DOP's errors, distances and objectives; measured 6.2e-4 (alpha = 1, unconverged)",
        method="dop",
    ),
)

#: A float column no rule names: tight enough to notice a change of code, loose enough for rounding.
DEFAULT_TOLERANCE = Tolerance("*", 1e-6, 1e-12, "a number no rule names: rounding level of a short computation")
#: Flags and text, and whatever does not hold numbers on both sides.
EXACT = Tolerance("*", 0.0, 0.0, "flags and text must be equal")

#: Bookkeeping, not results: how long, where, by which code, in which job and batch.
SKIP_COLUMNS = frozenset(
    {"wall_s", "device", "code", "job", "cell", "batch_size", "shared_from", "resumed_from", "steps_per_s"}
)
#: Other column names that say time: never compared.
TIMING = re.compile(r"(^|_)(wall|time|times|seconds|elapsed|per_s)(_|$)|_s$")

#: Columns that identify a summary row (the problem and the settings it ran with).
KEY_COLUMNS = frozenset(
    {
        "sweep",
        "method",
        "trial",
        "seed",
        "data_seed",
        "image",
        "image_shape",
        "run",
        "amp",
        "dtype",
        "n",
        "m",
        "rank",
        "p",
        "alpha",
        "lambda",
        "gamma",
        "width",
        "steps",
        "lr",
        "init_scale",
        "init_norm",
        "init_rank",
        "rows",
        "dim",
        "weight_ratio",
        "step",
        "window",
        "tau",
        "rank_step",
        "factor",
        "min_rank",
    }
)
#: Integer and text columns that are results, not settings (other integer and text columns are keys).
OUTCOME_COLUMNS = frozenset(
    {"iterations", "iter_best", "steps_run", "diverged_at", "restarts", "restart_iterations", "final_init_rank"}
)
#: Key columns left out of a row's name in the report: they vary with the others.
QUIET_KEYS = ("sweep", "seed", "data_seed")


class BadInput(Exception):
    """A folder that is not a run: the command stops with exit code 2."""


@dataclass(frozen=True)
class Layout:
    """Where one run's files are.

    :param path: the folder given.
    :param results: the folder holding ``<sweep>/summary.csv``.
    :param scorecard: ``scorecard.csv`` (None: there is none).
    :param facts: the published run's ``run.json`` (empty for a run folder).
    """

    path: Path
    results: Path
    scorecard: Path | None
    facts: dict

    def sweeps(self) -> list[str]:
        """The sweeps with a summary table."""
        return sorted(p.parent.name for p in self.results.glob("*/summary.csv"))


def locate(path: str | Path) -> Layout:
    """Find a run's files in ``path``: a run folder (``results/scorecard.csv``), a published
    folder (``scorecard.csv`` beside ``results/``), or a ``results/`` folder itself.

    :raises BadInput: when ``path`` is missing or holds no sweep's summary table.
    """
    path = Path(path)
    if not path.is_dir():
        raise BadInput(f"{path}: no such folder")
    results = path / "results" if (path / "results").is_dir() else path
    if not any(results.glob("*/summary.csv")):
        raise BadInput(f"{path}: not a run (no results/<sweep>/summary.csv inside); give a run folder or docs/<run>")
    card = next((c for c in (path / "scorecard.csv", results / "scorecard.csv") if c.is_file()), None)
    facts = {}
    if (path / "run.json").is_file():
        try:
            facts = json.loads((path / "run.json").read_text())
        except (OSError, ValueError):
            facts = {}
    return Layout(path, results, card, facts)


def tolerance_for(
    sweep: str, method: str, metric: str, table: str = "summary", rules: tuple[Tolerance, ...] = TOLERANCES
) -> Tolerance:
    """The first rule of ``rules`` that covers this number, else :data:`DEFAULT_TOLERANCE`."""
    return next((r for r in rules if r.matches(sweep, method, metric, table)), DEFAULT_TOLERANCE)


def differences(ours: np.ndarray, published: np.ndarray, tol: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """The relative differences of two arrays of numbers, and which agree within ``tol``.

    Both NaN, or equal (infinities included), agree with difference 0; one NaN, or an
    infinity against a finite number, is an infinite difference.

    :returns: ``(rel_diff, ok)``, as defined in the module docstring.
    """
    a = np.asarray(ours, dtype=float)
    b = np.asarray(published, dtype=float)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        lowest = tol.floor / tol.rel if tol.rel > 0 else 0.0
        rel = diff / np.maximum(scale, lowest)
        ok = diff <= np.maximum(tol.rel * scale, tol.floor)
    rel = np.where(same, 0.0, np.where(np.isnan(rel), np.inf, rel))
    return rel, same | (ok & np.isfinite(diff))


def _text(value) -> str:
    """A cell as text that means the same on both sides: NaN is empty, 5.0 is 5, a float
    key has 6 significant digits (below them a key may differ by rounding)."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else f"{value:.6g}"
    return str(value)


def _skipped(column: str) -> bool:
    return column in SKIP_COLUMNS or bool(TIMING.search(column))


def _is_key(column: str, frames: tuple[pd.DataFrame, ...]) -> bool:
    """Whether a summary column identifies a row (see the module docstring)."""
    if column in KEY_COLUMNS:
        return True
    if column in OUTCOME_COLUMNS:
        return False
    columns = [f[column] for f in frames if column in f]
    if any(pd.api.types.is_float_dtype(c) or pd.api.types.is_bool_dtype(c) for c in columns):
        return False
    # a flag with gaps (True, False and NaN) is read as text: still a result, not a key
    return not all(set(map(_text, c.dropna())) <= {"True", "False"} for c in columns)


def column_roles(ours: pd.DataFrame, published: pd.DataFrame, table: str) -> tuple[list[str], list[str]]:
    """The key columns and the value columns of a table, in the published table's order
    (bookkeeping left out). A curves table's keys are its columns up to ``iteration``."""
    columns = [c for c in dict.fromkeys([*published.columns, *ours.columns]) if not _skipped(c)]
    if table == "curves" and "iteration" in columns:
        order = published if "iteration" in published else ours
        lead = list(order.columns[: list(order.columns).index("iteration") + 1])
        keys = [c for c in columns if c in lead]
    else:
        keys = [c for c in columns if _is_key(c, (ours, published))]
    return keys, [c for c in columns if c not in keys]


@dataclass
class MetricLine:
    """One metric of one table under one tolerance: how many numbers, how far apart at most."""

    metric: str
    tolerance: Tolerance
    compared: int
    max_rel: float
    outside: int


@dataclass
class Outside:
    """One number outside its tolerance."""

    sweep: str
    table: str
    row: str
    metric: str
    ours: object
    published: object
    rel: float
    tolerance: Tolerance


@dataclass
class TableResult:
    """The comparison of one table (a sweep's summary or curves)."""

    sweep: str
    table: str
    matched: int = 0
    lines: list[MetricLine] = field(default_factory=list)
    outside: list[Outside] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        """Numbers compared."""
        return sum(line.compared for line in self.lines)


@dataclass
class CardResult:
    """The comparison of the two scorecards' verdicts."""

    compared: int = 0
    differ: list[tuple[str, str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    text_differs: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything :func:`compare_runs` found."""

    ours: Layout
    published: Layout
    card: CardResult
    tables: list[TableResult]
    missing: list[str]

    @property
    def compared(self) -> int:
        """Numbers compared, all tables."""
        return sum(t.compared for t in self.tables)

    @property
    def outside(self) -> list[Outside]:
        """Numbers outside their tolerance, all tables."""
        return [o for t in self.tables for o in t.outside]

    @property
    def all_missing(self) -> list[str]:
        """Everything present on one side only."""
        return self.missing + self.card.missing + [m for t in self.tables for m in t.missing]

    @property
    def agrees(self) -> bool:
        """Same verdicts, every number within tolerance, nothing missing."""
        return not (self.card.differ or self.outside or self.all_missing)


def compare_scorecards(ours: Path | None, published: Path | None) -> CardResult:
    """Compare the verdicts (``holds``) claim by claim, joined on ``claim_id``."""
    result = CardResult()
    if ours is None or published is None:
        if ours is not None or published is not None:
            result.missing.append(f"scorecard.csv only in {'ours' if ours else 'published'}")
        return result
    a, b = (_card(path) for path in (ours, published))
    for claim in a.index.difference(b.index):
        result.missing.append(f"claim {claim} only in ours")
    for claim in b.index.difference(a.index):
        result.missing.append(f"claim {claim} only in published")
    both = a.index.intersection(b.index, sort=False)
    result.compared = len(both)
    for claim in both:
        if _text(a.at[claim, "holds"]) != _text(b.at[claim, "holds"]):
            result.differ.append((claim, _text(a.at[claim, "holds"]), _text(b.at[claim, "holds"])))
        if "ours" in a and "ours" in b and _text(a.at[claim, "ours"]) != _text(b.at[claim, "ours"]):
            result.text_differs += 1
    if "size" in a and "size" in b and _sizes(a) != _sizes(b):
        result.notes.append(f"sizes differ: ours {_sizes(a)}, published {_sizes(b)}")
    return result


def _card(path: Path) -> pd.DataFrame:
    """A scorecard indexed by its claims.

    :raises BadInput: when it lacks the ``claim_id`` or ``holds`` column.
    """
    card = read_table(path)
    if not {"claim_id", "holds"} <= set(card.columns):
        raise BadInput(f"{path}: not a scorecard (needs the columns claim_id and holds)")
    return card.set_index("claim_id")


def _sizes(card: pd.DataFrame) -> str:
    return ", ".join(sorted(set(map(_text, card["size"]))))


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``frame`` with its key columns as text and a ``#`` column that tells apart rows whose
    keys are equal (their order)."""
    out = frame.copy()
    for k in keys:
        out[k] = out[k].map(_text) if k in out else ""
    out["#"] = out.groupby(keys, sort=False).cumcount() if keys else range(len(out))
    return out


def _row_names(joined: pd.DataFrame, keys: list[str]) -> pd.Series:
    """A short name of each row: its method and the keys that vary among that method's rows,
    as ``key=value``."""
    named = [k for k in keys if k not in QUIET_KEYS]
    group = joined["method"] if "method" in named else pd.Series("", index=joined.index)
    shown = [k for k in named if k == "method" or joined.groupby(group)[k].nunique().max() > 1]
    if joined["#"].max() > 0:
        shown.append("#")
    if not shown:
        return pd.Series([f"row {i}" for i in range(len(joined))], index=joined.index)
    return joined[shown].astype(str).apply(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)


def _unmatched(merged: pd.DataFrame, keys: list[str], table: str, result: TableResult) -> None:
    """Report the rows on one side only. Of a curve both runs recorded, the iterations one
    side did not record (a thinned published curve) are not missing, only not compared; a
    curve the two recorded at no common iteration is missing."""
    sides = merged["_merge"].astype(str)
    if table == "curves" and "iteration" in keys:
        curve = merged[[k for k in keys if k != "iteration"] + ["#"]].astype(str).agg("|".join, axis=1)
        counts = pd.crosstab(curve, sides).reindex(columns=["both", "left_only", "right_only"], fill_value=0)
        shared = (counts["both"] + counts["left_only"] > 0) & (counts["both"] + counts["right_only"] > 0)
        disjoint = int((shared & (counts["both"] == 0)).sum())
        if disjoint:
            result.missing.append(f"{result.sweep}: {disjoint} curves recorded by both at no common iteration")
        on_both = curve.map(shared).to_numpy(dtype=bool)
        skipped = int((on_both & (sides != "both").to_numpy()).sum())
        if skipped:
            result.notes.append(
                f"compared at the {int((sides == 'both').sum())} (curve, iteration) points both recorded; "
                f"{skipped} points recorded by one side only (thinned curves) not compared"
            )
        for side, who in (("left_only", "ours"), ("right_only", "published")):
            only = (~on_both) & (sides == side).to_numpy()
            if only.any():
                result.missing.append(
                    f"{result.sweep}: {curve[only].nunique()} curves ({int(only.sum())} rows) only in {who}"
                )
        return
    for side, who in (("left_only", "ours"), ("right_only", "published")):
        count = int((sides == side).sum())
        if count:
            result.missing.append(f"{result.sweep}: {count} {table} rows only in {who}")


def compare_tables(
    ours: pd.DataFrame, published: pd.DataFrame, sweep: str, table: str, rules: tuple[Tolerance, ...] = TOLERANCES
) -> TableResult:
    """Compare one table of a sweep, row by row and column by column (see the module docstring).

    :param table: ``summary`` or ``curves`` (curves are compared at common iterations).
    """
    result = TableResult(sweep, table)
    if ours.empty and published.empty:
        return result
    if ours.empty or published.empty:
        result.missing.append(f"{sweep}: {table}.csv empty in {'ours' if ours.empty else 'published'}")
        return result
    keys, values = column_roles(ours, published, table)
    for col in [*keys, *values]:
        if (col in ours) != (col in published):
            result.missing.append(f"{sweep}: {table} column {col} only in {'ours' if col in ours else 'published'}")
    keys = [k for k in keys if k in ours and k in published]
    values = [v for v in values if v in ours and v in published]
    a, b = _keyed(ours, keys), _keyed(published, keys)
    merged = a[[*keys, "#", *values]].merge(
        b[[*keys, "#", *values]], on=[*keys, "#"], how="outer", suffixes=("", "__pub"), indicator=True
    )
    _unmatched(merged, keys, table, result)
    joined = merged[merged["_merge"] == "both"]
    result.matched = len(joined)
    if joined.empty:
        differ = [k for k in keys if set(a[k]) != set(b[k])]
        result.notes.append("no row joins" + (f": the values of {', '.join(differ)} differ" if differ else ""))
        return result
    names = _row_names(joined, keys)
    methods = joined["method"] if "method" in joined else pd.Series("*", index=joined.index)
    for col in values:
        _compare_column(joined, col, methods, names, result, rules)
    return result


def _compare_column(
    joined: pd.DataFrame,
    col: str,
    methods: pd.Series,
    names: pd.Series,
    result: TableResult,
    rules: tuple[Tolerance, ...],
) -> None:
    """Compare one value column of the joined rows, under each tolerance its rows fall under."""
    x, y = joined[col], joined[col + "__pub"]
    numeric = all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (x, y))
    by_rule: dict[Tolerance, np.ndarray] = {}
    for method in methods.unique():
        tol = tolerance_for(result.sweep, str(method), col, result.table, rules) if numeric else EXACT
        rows = (methods == method).to_numpy()
        by_rule[tol] = by_rule[tol] | rows if tol in by_rule else rows
    for tol, rows in by_rule.items():
        xs, ys = x[rows], y[rows]
        if numeric:
            rel, ok = differences(xs.to_numpy(), ys.to_numpy(), tol)
        else:
            ok = np.array([_text(u) == _text(v) for u, v in zip(xs, ys, strict=True)])
            rel = np.where(ok, 0.0, np.inf)
        result.lines.append(MetricLine(col, tol, len(rel), float(rel.max()) if len(rel) else 0.0, int((~ok).sum())))
        for i in np.flatnonzero(~ok):
            result.outside.append(
                Outside(
                    result.sweep, result.table, names[rows].iloc[i], col, xs.iloc[i], ys.iloc[i], float(rel[i]), tol
                )
            )


def compare_runs(ours: str | Path, published: str | Path, rules: tuple[Tolerance, ...] = TOLERANCES) -> Report:
    """Compare two runs (see the module docstring).

    :raises BadInput: when either is not a run.
    """
    a, b = locate(ours), locate(published)
    missing = [f"sweep {s} only in ours" for s in sorted(set(a.sweeps()) - set(b.sweeps()))]
    missing += [f"sweep {s} only in published" for s in sorted(set(b.sweeps()) - set(a.sweeps()))]
    tables = []
    for sweep in sorted(set(a.sweeps()) & set(b.sweeps())):
        for table in ("summary", "curves"):
            x, y = (_read(side.results / sweep / f"{table}.csv") for side in (a, b))
            tables.append(compare_tables(x, y, sweep, table, rules))
    return Report(a, b, compare_scorecards(a.scorecard, b.scorecard), tables, missing)


def _read(path: Path) -> pd.DataFrame:
    return read_table(path) if path.is_file() else pd.DataFrame()


def _number(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return _text(value) or "(empty)"


def _headline(report: Report) -> list[str]:
    card, outside, missing = report.card, report.outside, report.all_missing
    verdicts = (
        f"verdicts: {card.compared - len(card.differ)} of {card.compared} equal"
        if card.compared
        else "verdicts: none compared"
    )
    if card.text_differs:
        verdicts += f" (the 'ours' text differs in {card.text_differs}; its numbers are checked in the tables)"
    numbers = f"numbers: {report.compared - len(outside)} of {report.compared} within tolerance"
    numbers += f"; {len(outside)} outside" if outside else ""
    return [
        f"# {report.ours.path} against {report.published.path}",
        "",
        *(
            f"- {who}: {side.facts.get('machine', '?')}; commit {side.facts.get('commit', '?')}"
            for who, side in (("ours", report.ours), ("published", report.published))
            if side.facts
        ),
        f"- {verdicts}",
        f"- {numbers}",
        f"- missing: {len(missing)} (see below)" if missing else "- missing: nothing",
        *(f"- {note}" for note in card.notes),
        "",
        "AGREES: same verdicts, every number within its tolerance."
        if report.agrees
        else "DIFFERS: " + "; ".join(_why(report)) + ".",
    ]


def _why(report: Report) -> list[str]:
    out = []
    if report.card.differ:
        out.append(f"{len(report.card.differ)} verdicts differ")
    if report.outside:
        out.append(f"{len(report.outside)} numbers outside tolerance")
    if report.all_missing:
        out.append(f"{len(report.all_missing)} things on one side only")
    return out


def _legend(report: Report) -> list[str]:
    """Why each tolerance the report used (flags and text, compared exactly, left out)."""
    used = dict.fromkeys(m.tolerance for t in report.tables for m in t.lines if m.tolerance is not EXACT)
    if not used:
        return []
    out = ["", "## Tolerances used", ""]
    for tol in sorted(used, key=lambda r: (r.sweep, r.method, r.metric, r.table)):
        where = ", ".join(f"{k} {v}" for k, v in (("sweep", tol.sweep), ("method", tol.method), ("table", tol.table)))
        where = ", ".join(part for part in where.split(", ") if not part.endswith(" *"))
        out.append(f"- `{tol.metric}`{f' ({where})' if where else ''}: {tol.label()}. {tol.why}.")
    return out


def render(report: Report, max_listed: int = 50, *, brief: bool = False) -> str:
    """The report as Markdown: headline, per sweep a line per metric, then what disagrees.

    :param max_listed: list at most this many numbers outside tolerance.
    :param brief: only the headline and what disagrees (no per-metric tables, no legend).
    """
    lines = _headline(report)
    if report.card.differ:
        lines += ["", "## Verdicts that differ", "", "| claim | ours | published |", "|---|---|---|"]
        lines += [f"| {c} | {x} | {y} |" for c, x, y in report.card.differ]
    if report.all_missing:
        lines += ["", "## On one side only", "", *(f"- {m}" for m in report.all_missing)]
    if not brief:
        lines += _per_sweep(report)
    outside = report.outside
    if outside:
        lines += ["", "## Numbers outside tolerance", ""]
        lines += ["| sweep | table | row | metric | ours | published | rel diff | tolerance |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for o in outside[:max_listed]:
            lines.append(
                f"| {o.sweep} | {o.table} | {o.row} | {o.metric} | {_number(o.ours)} | {_number(o.published)} "
                f"| {o.rel:.3g} | {o.tolerance.label()} |"
            )
        if len(outside) > max_listed:
            lines.append(f"\n... and {len(outside) - max_listed} more (--max-listed to see them)")
    return "\n".join(lines) + "\n"


def _per_sweep(report: Report) -> list[str]:
    """Per sweep, a line per metric compared, then the tolerances' reasons."""
    lines = []
    for sweep in dict.fromkeys(t.sweep for t in report.tables):
        lines += ["", f"## {sweep}", ""]
        lines += ["| table | metric | n | max rel diff | tolerance | |", "|---|---|---|---|---|---|"]
        for t in (t for t in report.tables if t.sweep == sweep):
            for m in t.lines:
                method = "" if m.tolerance.method == "*" else f" ({m.tolerance.method})"
                status = "ok" if not m.outside else f"OUTSIDE ({m.outside})"
                lines.append(
                    f"| {t.table} | {m.metric}{method} | {m.compared} | {m.max_rel:.2g} | {m.tolerance.label()} "
                    f"| {status} |"
                )
        for t in (t for t in report.tables if t.sweep == sweep):
            lines += [f"- {t.table}: {t.matched} rows joined" + "".join(f"; {n}" for n in t.notes)]
    return lines + _legend(report)


def main(argv: list[str] | None = None) -> int:
    """``python -m implicit_bias.compare RUN_DIR PUBLISHED_DIR [--max-listed N] [--brief] [--brief-to FILE]``.

    :returns: the exit code: 0 when everything agrees, 1 when a verdict differs, a number is
        outside its tolerance or something is on one side only, 2 when a folder is not a run.
    """
    parser = argparse.ArgumentParser(
        prog="python -m implicit_bias.compare",
        description="Compare a run with a published one: verdicts exactly, every number within its tolerance.",
    )
    parser.add_argument("run", type=Path, help="a run folder (results/ inside) or a published folder (docs/<run>)")
    parser.add_argument("published", type=Path, help="the run to compare against, the same way")
    parser.add_argument("--max-listed", type=int, default=50, help="list at most this many numbers outside tolerance")
    parser.add_argument("--brief", action="store_true", help="only the headline and what disagrees")
    parser.add_argument("--brief-to", type=Path, default=None, help="also write the brief report to this file")
    args = parser.parse_args(argv)
    try:
        report = compare_runs(args.run, args.published)
    except (BadInput, pd.errors.ParserError, UnicodeDecodeError) as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(render(report, args.max_listed, brief=args.brief), end="")
    if args.brief_to is not None:
        args.brief_to.write_text(render(report, args.max_listed, brief=True))
    return 0 if report.agrees else 1


if __name__ == "__main__":
    sys.exit(main())
