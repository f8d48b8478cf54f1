"""Progress output for long runs: a tqdm bar on stderr, which the workflow sends to the log."""

from __future__ import annotations

import contextlib
import os
import sys

from tqdm.auto import tqdm


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, desc: str | None):
    """A bar for ``total`` steps labelled ``desc``; ``desc=None`` shows nothing.

    In a log file (not a terminal) the bar prints a line at most every
    ``IMPLICIT_BIAS_PROGRESS_S`` seconds (default 10), so logs stay readable.
    """
    if desc is None:
        yield _NoBar()
        return
    interactive = sys.stderr.isatty()
    interval = 0.5 if interactive else float(os.environ.get("IMPLICIT_BIAS_PROGRESS_S", "10"))
    with tqdm(
        total=total,
        desc=desc,
        file=sys.stderr,
        mininterval=interval,
        maxinterval=max(interval, 10.0),
        ascii=not interactive,
        dynamic_ncols=interactive,
        unit="step",
    ) as bar:
        yield bar
