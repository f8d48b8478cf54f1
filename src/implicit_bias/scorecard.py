"""The replication scorecard: each claim of the papers, the paper's value, ours, and a verdict.

Claims are declared per sweep kind (by the experiment families), so a sweep a user adds
(say the alpha sweep at n = 100) gets its own rows. Every claim states the sizes at which
it can be judged; at any other size its row says "not run at this size", never a pass.
A claim about a regime (a plateau, an overfitting peak) that a run did not reach says
"not reached at this size"; a sweep whose every run diverged says "diverged".
Each claim declares what it compares (:attr:`Claim.needs`: methods, levels, grid points);
where a sweep lacks any of it the claim reads "no data" and names what is missing, never
yes or no. A claim whose check raises reads "error" with the exception's text, and the
rest of the scorecard stands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .records import tidy, write_table

HOLDS, FAILS, NOT_RUN, NO_DATA = "yes", "no", "not run at this size", "no data"
NOT_REACHED, DIVERGED, ERROR = "not reached at this size", "diverged", "error"
#: A claim whose judged number is on its threshold's side, but not significantly so.
INCONCLUSIVE = "inconclusive"
#: A claim about a limit whose runs had not reached it (see :class:`Claim` ``at_limit``).
NOT_CONVERGED = "not converged"

#: The convergence gate's default tolerances: a run has converged when its relative residual
#: (the kind's stationarity measure, column ``residual``) and the change of its iterate over
#: the last 10% of its steps relative to the iterate's scale (column ``last_change``) are both
#: at most these. A claim's ``limits`` may set ``residual_tol`` and ``change_tol``.
RESIDUAL_TOL, CHANGE_TOL = 1e-3, 1e-3
CONVERGENCE_COLUMNS = ("residual", "last_change")

#: The sizes a claim is judged at unless it says otherwise: every size but smoke (which
#: tests the plumbing, at budgets no claim is about).
JUDGED_SIZES = ("quick", "cpu", "paper")


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One checkable statement, declared with keywords.

    :ivar key: a short identifier, unique within its kind.
    :ivar text: the claim in words; ``str.format`` fills in the sweep's settings and the
        claim's :attr:`limits` (``{n}``, ``{ratio}``, ...), so a threshold is written once.
    :ivar plot: the plot that shows it; the scorecard names the figure that draws the sweep
        with this plot.
    :ivar paper: the paper's value or statement.
    :ivar check: ``(settings, tables) -> (ours, verdict)``. ``settings`` are the sweep's
        settings with the claim's :attr:`limits` added; ``tables`` maps a table name
        (``summary``, ``curves``) to a frame; ``verdict`` is a bool (holds or not) or
        :data:`NOT_REACHED`. It is called only when every row :attr:`needs` names is there.
    :ivar needs: what the claim compares: a column of the summary table to the values that
        must each appear in it (a tuple, or ``settings -> values``): methods, levels, grid
        points. Where any is absent the claim reads :data:`NO_DATA` and names what is missing.
    :ivar limits: the claim's thresholds by name, used in both :attr:`text` and :attr:`check`.
    :ivar sizes: the sizes at which it can be judged (default :data:`JUDGED_SIZES`).
    :ivar at_limit: the claim is about a limit (of the steps, or of a scale going to 0), so
        its verdict stands only on converged runs: ``True`` gates on every row of the
        summary that did not diverge, a callable ``(settings, summary) -> rows`` on the rows
        its verdict rests on. Where any of them had not converged (:func:`convergence`) a
        yes or no becomes :data:`NOT_CONVERGED`, and the row says which runs and what the
        verdict would have been.
    """

    key: str
    text: str
    plot: str
    paper: str
    check: Callable
    needs: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)
    sizes: tuple[str, ...] = JUDGED_SIZES
    at_limit: bool | Callable = False

    def settings(self, settings: dict) -> dict:
        """The sweep's settings with this claim's limits added (a limit may not shadow a setting)."""
        clash = sorted(set(self.limits) & set(settings))
        if clash:
            raise ValueError(f"claim {self.key!r}: limit {', '.join(clash)} is also a setting of the sweep")
        return {**settings, **self.limits}

    def describe(self, settings: dict) -> str:
        """:attr:`text` with the settings and limits filled in."""
        return self.text.format(**self.settings(settings))

    def missing(self, settings: dict, summary: pd.DataFrame) -> list[str]:
        """What :attr:`needs` names that ``summary`` lacks, as ``column value`` phrases."""
        out = []
        for column, wanted in self.needs.items():
            values = wanted(settings) if callable(wanted) else wanted
            present = summary[column].dropna().unique() if column in summary else []
            for value in values:
                if not any(_same(value, have) for have in present):
                    out.append(f"{column} {_show(value)}")
        return out


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success fraction (scipy's ``binomtest``).

    :returns: ``(low, high)``; ``(0, 1)`` for no trials.
    """
    from scipy.stats import binomtest

    if trials == 0:
        return 0.0, 1.0
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """McNemar's exact test of two methods run on the same problems: the two-sided binomial
    p-value of the discordant problems (solved by one method only) splitting as observed
    under an even split (scipy's ``binomtest``). 1.0 where no problem is discordant."""
    from scipy.stats import binomtest

    discordant = int(only_first) + int(only_second)
    return 1.0 if discordant == 0 else float(binomtest(int(only_first), discordant, 0.5).pvalue)


def trials_to_settle(only_first: int, only_second: int, trials: int, z: float = 1.96) -> int | None:
    """Trials (per grid point) at which the paired difference observed would reach ``z``,
    at the same rates of discordant problems (the normal approximation of McNemar's test,
    whose statistic grows as the square root of the trials). None where the first method
    does not lead."""
    if only_first <= only_second:
        return None
    observed = (only_first - only_second) / np.sqrt(only_first + only_second)
    return int(np.ceil(trials * (z / observed) ** 2))


def convergence(rows: pd.DataFrame, residual_tol: float = RESIDUAL_TOL, change_tol: float = CHANGE_TOL):
    """The convergence gate on a summary's rows.

    :param rows: with columns ``residual`` (relative stationarity residual at the end) and
        ``last_change`` (change of the iterate over the last 10% of steps, relative).
    :returns: a boolean Series, True where both are finite and within their tolerances.
    """
    missing = [c for c in CONVERGENCE_COLUMNS if c not in rows]
    if missing:
        raise KeyError(f"convergence columns missing: {', '.join(missing)}")
    res = pd.to_numeric(rows["residual"], errors="coerce")
    change = pd.to_numeric(rows["last_change"], errors="coerce")
    return (res <= residual_tol) & (change <= change_tol)


def _gate(claim: Claim, settings: dict, summary: pd.DataFrame, ours: str, verdict: bool) -> tuple[str, str | bool]:
    """Apply the convergence gate of an ``at_limit`` claim to its judged yes or no."""
    rows = claim.at_limit(settings, summary) if callable(claim.at_limit) else summary
    if "diverged" in rows:
        rows = rows[~rows["diverged"].astype(bool)]
    if rows.empty:
        return ours, verdict
    missing = [c for c in CONVERGENCE_COLUMNS if c not in rows]
    if missing:
        return ours + f"; convergence not recorded (missing: {', '.join(missing)})", NO_DATA
    rtol = float(settings.get("residual_tol", RESIDUAL_TOL))
    ctol = float(settings.get("change_tol", CHANGE_TOL))
    ok = convergence(rows, rtol, ctol)
    worst = f"residual up to {rows['residual'].max():.2g}, last-10% change up to {rows['last_change'].max():.2g}"
    if bool(ok.all()):
        return ours + f"; converged: {len(rows)} of {len(rows)} runs ({worst}; gate {rtol:g}, {ctol:g})", verdict
    would = HOLDS if verdict else FAILS
    return (
        ours + f"; NOT CONVERGED: {int((~ok).sum())} of {len(rows)} runs outside the gate "
        f"(residual <= {rtol:g}, last-10% change <= {ctol:g}; {worst}); would read {would!r}",
        NOT_CONVERGED,
    )


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    except (TypeError, ValueError):
        return a == b


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _all_diverged(summary: pd.DataFrame) -> bool:
    return "diverged" in summary and len(summary) > 0 and bool(summary["diverged"].astype(bool).all())


def _judge(claim: Claim, size: str, settings, tables) -> tuple[str, str]:
    if size not in claim.sizes:
        return "", NOT_RUN
    summary = tables.get("summary")
    if summary is None or summary.empty:
        return "", NO_DATA
    if _all_diverged(summary):
        return f"every run diverged ({len(summary)} of {len(summary)})", DIVERGED
    try:
        missing = claim.missing(settings, summary)
        if missing:
            return "missing: " + ", ".join(missing), NO_DATA
        ours, verdict = claim.check(claim.settings(settings), tables)
        if claim.at_limit and not isinstance(verdict, str):
            ours, verdict = _gate(claim, claim.settings(settings), summary, ours, verdict)
    except Exception as exc:  # noqa: BLE001 - one claim's failure must not hide the others
        return f"{type(exc).__name__}: {exc}", ERROR
    if isinstance(verdict, str):
        return ours, verdict
    return ours, HOLDS if verdict else FAILS


def _describe(claim: Claim, settings: dict) -> str:
    try:
        return claim.describe(settings)
    except (KeyError, IndexError, ValueError) as exc:
        return f"{claim.text} (cannot fill in {exc})"


def figure_of(figures: dict, sweep: str, plot: str) -> str:
    """The figure that draws ``sweep`` with ``plot`` (the plot's name if none does)."""
    for name, spec in figures.items():
        if spec["plot"] == plot and sweep in spec["sweeps"]:
            return name
    return plot


def scorecard(
    size: str,
    sweeps: dict,
    tables: dict,
    claims: Callable[[str], list[Claim]],
    figures: dict,
) -> pd.DataFrame:
    """Judge every claim of every sweep.

    :param size: the size the results were made at.
    :param sweeps: sweep name to resolved settings.
    :param tables: sweep name to ``{"summary": frame, "curves": frame}``.
    :param claims: kind name to its claims.
    :param figures: figure name to ``{"plot", "sweeps"}``, to name each claim's figure.
    :returns: one row per (claim, sweep) with ``claim_id``, ``claim``, ``figure``,
        ``sweep``, ``paper``, ``ours``, ``size``, ``holds``.
    """
    rows = []
    for sweep, settings in sweeps.items():
        for claim in claims(settings["kind"]):
            ours, verdict = _judge(claim, size, settings, tables.get(sweep, {}))
            rows.append(
                {
                    "claim_id": f"{sweep}:{claim.key}",
                    "claim": _describe(claim, settings),
                    "figure": figure_of(figures, sweep, claim.plot),
                    "sweep": sweep,
                    "paper": claim.paper,
                    "ours": ours,
                    "size": size,
                    "holds": verdict,
                }
            )
    return tidy(rows)


def code_notes(tables: dict, current: dict) -> list[str]:
    """What the tables say about the code that made them.

    :param tables: sweep name to ``{"summary": frame, ...}``; a ``code`` column holds the
        fingerprint of the code each job ran.
    :param current: sweep name to the fingerprint of the checkout's code for its kind.
    :returns: one line per sweep whose tables mix fingerprints or differ from the checkout's.
    """
    notes = []
    for sweep, tab in tables.items():
        summary = tab.get("summary")
        if summary is None or summary.empty or "code" not in summary:
            continue
        seen = sorted(set(summary["code"].astype(str)))
        if len(seen) > 1:
            notes.append(f"{sweep}: its results come from different code ({', '.join(seen)})")
        elif sweep in current and seen[0] != current[sweep]:
            notes.append(f"{sweep}: computed with code {seen[0]}; this checkout's code for it is {current[sweep]}")
    return notes


def markdown_cell(value) -> str:
    """A table entry as Markdown: pipes escaped, one line, a missing value blank (never ``nan``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _claims(count: int) -> str:
    return f"{count} claim needs" if count == 1 else f"{count} claims need"


def to_markdown(card: pd.DataFrame, commit: str = "", code: dict | None = None, notes=()) -> str:
    """The scorecard as a Markdown table with a summary on top.

    :param commit: the checkout's commit.
    :param code: sweep name to the code fingerprint its results carry.
    :param notes: warnings to state before the table (see :func:`code_notes`).
    """
    counts = card["holds"].value_counts()
    judged = counts.get(HOLDS, 0) + counts.get(FAILS, 0)
    others = [
        (NOT_REACHED, "regime not reached at this size"),
        (DIVERGED, "every run diverged"),
        (NOT_CONVERGED, "judged on runs that had not converged (the row says which, and what they would read)"),
        (
            INCONCLUSIVE,
            "inconclusive (on the threshold's side, but not significantly; the row says what would settle it)",
        ),
        (NO_DATA, "without data"),
        (ERROR, "could not be judged (an error, stated in the row)"),
    ]
    head = (
        f"# Replication scorecard\n\nSize: `{card['size'].iloc[0] if len(card) else '?'}`"
        + (f", commit `{commit}`" if commit else "")
        + f". {counts.get(HOLDS, 0)} of {judged} judged claims hold"
        + (f"; {_claims(counts.get(NOT_RUN, 0))} a size that was not run" if counts.get(NOT_RUN, 0) else "")
        + "".join(f"; {counts.get(v, 0)} {what}" for v, what in others if counts.get(v, 0))
        + ".\n\n"
    )
    if code:
        head += "Code fingerprints: " + ", ".join(f"{s} `{c}`" for s, c in code.items()) + ".\n\n"
    for note in notes:
        head += f"**Warning: {note}.**\n\n"
    cols = ["claim", "figure", "sweep", "paper", "ours", "holds"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in card.iterrows():
        cells = [markdown_cell(row[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def write_scorecard(
    card: pd.DataFrame, tables: dict, *, csv: str | Path, md: str | Path, commit: str, code: dict
) -> list[str]:
    """Write a scorecard as ``csv`` and as Markdown ``md`` (:func:`to_markdown`, with the
    warnings of :func:`code_notes`).

    :param tables: the tables it was judged on, sweep name to ``{"summary": frame, ...}``.
    :param commit: the checkout's commit.
    :param code: sweep name to the checkout's code fingerprint for its kind.
    :returns: the warnings.
    """
    notes = code_notes(tables, code)
    write_table(card, csv)
    Path(md).write_text(to_markdown(card, commit, code, notes))
    return notes
