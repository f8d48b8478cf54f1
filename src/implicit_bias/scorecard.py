"""The replication scorecard: each claim of the papers, the paper's value, ours, and a verdict.

Claims are declared per sweep kind (by the experiment families), so a sweep a user adds
(say the alpha sweep at n = 100) gets its own rows. Every claim states the sizes at which
it can be judged; at any other size its row says "not run at this size", never a pass.
A claim about a regime (a plateau, an overfitting peak) that a run did not reach says
"not reached at this size"; a sweep whose every run diverged says "diverged".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from .records import tidy

HOLDS, FAILS, NOT_RUN, NO_DATA = "yes", "no", "not run at this size", "no data"
NOT_REACHED, DIVERGED = "not reached at this size", "diverged"


@dataclass(frozen=True)
class Claim:
    """One checkable statement.

    :ivar key: a short identifier, unique within its kind.
    :ivar text: the claim in words (may use the sweep's settings via ``str.format``).
    :ivar plot: the plot that shows it; the scorecard names the figure that draws the sweep
        with this plot.
    :ivar paper: the paper's value or statement.
    :ivar sizes: sizes at which the claim can be judged.
    :ivar check: ``(settings, tables) -> (ours, verdict)``; ``tables`` maps a table name
        (``summary``, ``curves``) to a frame; ``verdict`` is a bool (holds or not) or
        :data:`NOT_REACHED`.
    """

    key: str
    text: str
    plot: str
    paper: str
    sizes: tuple[str, ...]
    check: Callable


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
    ours, verdict = claim.check(settings, tables)
    if isinstance(verdict, str):
        return ours, verdict
    return ours, HOLDS if verdict else FAILS


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
                    "claim": claim.text.format(**settings),
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
        (NO_DATA, "without data"),
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
        cells = [str(row[c]).replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"
