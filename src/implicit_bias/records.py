"""Tidy result tables: one row per trial (summary) or per recorded step (curves)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that lead every summary table, in this order, when present.
LEAD_COLUMNS = ["sweep", "method", "job", "trial", "seed"]


def _plain(value):
    """NumPy and torch scalars to plain Python, so tables and JSON stay portable."""
    if hasattr(value, "item") and np.ndim(value) == 0:
        return value.item()
    return value


def tidy(rows: Iterable[dict]) -> pd.DataFrame:
    """Rows of plain values to a frame with the lead columns first."""
    frame = pd.DataFrame([{k: _plain(v) for k, v in row.items()} for row in rows])
    lead = [c for c in LEAD_COLUMNS if c in frame.columns]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV, atomically (a killed job never leaves half a table)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`; an empty file gives an empty frame."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def concat_tables(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Stack the tables of several jobs (jobs) of one sweep."""
    frames = [f for f in (read_table(p) for p in paths) if not f.empty]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True, sort=False)
