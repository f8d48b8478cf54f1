"""What the workflow's local rules do: stack a sweep's tables, draw a figure, judge the
scorecard, and give a job the run another sweep's job made.

Each rule's ``run:`` block calls one function of this module inside the Snakemake process,
in one of its threads when the run uses threads (the default profile says so), so pandas
and matplotlib are imported once for all these jobs rather than once per job. One lock runs
them one at a time: pyplot, its style settings and the record of warnings are shared by
the whole process. Each job writes its messages, its warnings and, when it fails, its
traceback to its log file.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

_LOCK = threading.Lock()


@contextlib.contextmanager
def _job(log: str | Path) -> Iterator[Callable[..., None]]:
    """Hold the lock and write to ``log``: yields ``print`` into the log; the warnings the
    body raised follow its messages, and a failure's traceback ends the log."""
    with _LOCK, open(log, "w", buffering=1) as out:
        with warnings.catch_warnings(record=True) as caught:
            try:
                yield functools.partial(print, file=out)
            except BaseException:
                traceback.print_exc(file=out)
                raise
            finally:
                for w in caught:
                    out.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))


def aggregate(*, summaries: Sequence[str], curves: Sequence[str], outputs: Mapping, log: str) -> None:
    """Stack a sweep's job tables into its ``summary`` and ``curves`` tables.

    :param summaries: the jobs' summary tables.
    :param curves: the jobs' curves tables.
    :param outputs: ``summary`` and ``curves``: the paths of the stacked tables.
    :param log: the job's log file.
    """
    from .records import concat_tables, write_table

    with _job(log) as say:
        for table, paths in (("summary", summaries), ("curves", curves)):
            frame = concat_tables(paths)
            write_table(frame, outputs[table])
            say(f"{outputs[table]}: {len(frame)} rows from {len(paths)} jobs")


def figure(
    *, spec: Mapping, summaries: Sequence[str], curves: Sequence[str], outputs: Sequence[str], stamp: str, log: str
) -> None:
    """Draw one figure from result tables alone.

    :param spec: the figure's ``module``, ``plot``, ``sweeps`` and each sweep's ``settings``.
    :param summaries: each sweep's summary table, in the order of ``spec["sweeps"]``.
    :param curves: each sweep's curves table, in the same order.
    :param outputs: the figure's files (the format from each suffix).
    :param stamp: a line set under the figure ("" for none).
    :param log: the job's log file.
    """
    from .experiments import draw_figure
    from .records import read_table

    with _job(log) as say:
        tables = {
            sweep: {
                "settings": spec["settings"][sweep],
                "summary": read_table(summary),
                "curves": read_table(curve),
                "jobs_dir": Path(summary).parent / "jobs",
            }
            for sweep, summary, curve in zip(spec["sweeps"], summaries, curves, strict=True)
        }
        draw_figure(spec["module"], spec["plot"], tables, outputs, stamp)
        say(f"drew {outputs[0]} with plot {spec['plot']!r} from sweeps {spec['sweeps']}")


def judge(
    *,
    summaries: Sequence[str],
    curves: Sequence[str],
    outputs: Mapping,
    settings: Mapping,
    log: str,
) -> None:
    """Judge every claim from the result tables; write the scorecard as CSV and Markdown.

    :param summaries: each sweep's summary table, in the order of ``settings["sweeps"]``.
    :param curves: each sweep's curves table, in the same order.
    :param outputs: ``csv`` and ``md``: the scorecard's files.
    :param settings: ``size``, ``sweeps`` (name to resolved settings), ``figures``, ``code``
        (each sweep's code fingerprint) and ``commit`` (the checkout's, for the header).
    :param log: the job's log file.
    """
    from .experiments import registry
    from .records import read_table
    from .scorecard import scorecard, write_scorecard

    with _job(log) as say:
        sweeps = settings["sweeps"]
        tables = {
            name: {"summary": read_table(summary), "curves": read_table(curve)}
            for name, summary, curve in zip(sweeps, summaries, curves, strict=True)
        }
        card = scorecard(settings["size"], sweeps, tables, registry().claims, settings["figures"])
        notes = write_scorecard(
            card, tables, csv=outputs["csv"], md=outputs["md"], commit=settings["commit"], code=settings["code"]
        )
        say(card[["claim_id", "holds"]].to_string())
        for note in notes:
            say("warning:", note)


def share(*, inputs: Sequence[str], outputs: Mapping, sweep: str, log: str) -> None:
    """Give a job of ``sweep`` the tables and files of the run another sweep's job made.

    :param inputs: that run's summary and curves tables, then its files.
    :param outputs: ``summary``, ``curves`` and ``files`` (in the order of the inputs' files).
    :param sweep: the sweep the job belongs to; the tables' ``shared_from`` column names the
        sweep that made the run.
    :param log: the job's log file.
    """
    from .records import read_table, write_table

    summary_in, curves_in, *files_in = inputs
    with _job(log) as say:
        for source, target in ((summary_in, outputs["summary"]), (curves_in, outputs["curves"])):
            table = read_table(source)
            if not table.empty:
                table["shared_from"] = table["sweep"]
                table["sweep"] = sweep
            write_table(table, target)
        for source, target in zip(files_in, outputs["files"], strict=True):
            shutil.copyfile(source, target)
        say(f"shared the run of {Path(summary_in).parent} with sweep {sweep}")
