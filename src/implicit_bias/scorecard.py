"""The replication scorecard: each claim of the papers, the paper's value, ours, and a verdict.

Claims are registered per sweep kind, so a sweep a user adds (say the alpha sweep at
n = 100) gets its own rows. Every claim states the sizes at which it can be judged; at
any other size its row says "not run at this size", never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from .records import tidy

HOLDS, FAILS, NOT_RUN, NO_DATA = "yes", "no", "not run at this size", "no data"


@dataclass
class Claim:
    """One checkable statement.

    :ivar key: a short identifier, unique within its kind.
    :ivar text: the claim in words (may use the sweep's settings via ``str.format``).
    :ivar figure: the figure (paper and ours) it is about.
    :ivar paper: the paper's value or statement.
    :ivar sizes: sizes at which the claim can be judged.
    :ivar check: ``(settings, tables) -> (ours: str, holds: bool)``; ``tables`` maps a
        table name (``summary``, ``curves``) to a frame.
    """

    key: str
    text: str
    figure: str
    paper: str
    sizes: tuple[str, ...]
    check: Callable


#: kind -> the claims judged on every sweep of that kind.
CLAIMS: dict[str, list[Claim]] = {}

def register_claims(kind: str, *claims: Claim) -> None:
    CLAIMS.setdefault(kind, []).extend(claims)


def _judge(claim: Claim, size: str, settings, tables) -> tuple[str, str]:
    if size not in claim.sizes:
        return "", NOT_RUN
    summary = tables.get("summary")
    if summary is None or summary.empty:
        return "", NO_DATA
    ours, holds = claim.check(settings, tables)
    return ours, HOLDS if holds else FAILS


def scorecard(size: str, sweeps: dict, tables: dict) -> pd.DataFrame:
    """Judge every registered claim.

    :param size: the size the results were made at.
    :param sweeps: sweep name to resolved settings.
    :param tables: sweep name to ``{"summary": frame, "curves": frame}``.
    :returns: one row per (claim, sweep) with ``claim``, ``figure``, ``sweep``, ``paper``,
        ``ours``, ``size``, ``holds``.
    """
    rows = []
    for sweep, settings in sweeps.items():
        for claim in CLAIMS.get(settings["kind"], []):
            ours, verdict = _judge(claim, size, settings, tables.get(sweep, {}))
            rows.append({"claim_id": f"{sweep}:{claim.key}", "claim": claim.text.format(**settings),
                         "figure": claim.figure, "sweep": sweep, "paper": claim.paper, "ours": ours,
                         "size": size, "holds": verdict})
    return tidy(rows)


def _claims(count: int) -> str:
    return f"{count} claim needs" if count == 1 else f"{count} claims need"


def to_markdown(card: pd.DataFrame, commit: str = "") -> str:
    """The scorecard as a Markdown table with a one-line summary on top."""
    counts = card["holds"].value_counts()
    judged = counts.get(HOLDS, 0) + counts.get(FAILS, 0)
    head = (
        f"# Replication scorecard\n\nSize: `{card['size'].iloc[0] if len(card) else '?'}`"
        + (f", commit `{commit}`" if commit else "")
        + f". {counts.get(HOLDS, 0)} of {judged} judged claims hold"
        + (f"; {_claims(counts.get(NOT_RUN, 0))} a size that was not run" if counts.get(NOT_RUN, 0) else "")
        + (f"; {counts.get(NO_DATA, 0)} without data" if counts.get(NO_DATA, 0) else "")
        + ".\n\n"
    )
    cols = ["claim", "figure", "sweep", "paper", "ours", "holds"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in card.iterrows():
        cells = [str(row[c]).replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"
