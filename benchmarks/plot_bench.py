"""The DOP scaling table of ``bench_rpca.py`` as Markdown and as a figure, from its JSON.

Drawing only reads the JSON, so that restyling the table or the figure never reruns the
benchmark::

    python benchmarks/plot_bench.py docs/bench/scaling.json --markdown docs/bench/scaling.md \\
        --figure docs/bench/scaling

writes the Markdown table and ``scaling.png`` and ``scaling.pdf``: the engine's rate against
both loop baselines and the roofline, over n, one panel per dtype and batch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from implicit_bias.plotting import figure, save_figures, stamp_figure, style

SIDES = {
    "engine": ("DOP engine (dop_descent)", "#d62728", "o", "-"),
    "loop": ("NumPy loop, this process", "#1f77b4", "s", "--"),
    "process_loops": ("NumPy loops, one process per core", "#2ca02c", "^", "--"),
    "roofline": ("roofline (a step's two products only)", "0.35", "", ":"),
}
NOTE = (
    "Rates in problem-steps/s (one DOP gradient step of one n x n problem), marginal over a run's fixed "
    "work. Loop: the same iteration in NumPy, one problem after another, on all threads here; process "
    "loops: one one-thread NumPy process per core, the problems split evenly. Roofline: a step costing "
    "only its two products (U U^T, T U), each timed the fastest of four ways."
)


def _cells(report: dict) -> list[dict]:
    return report["scaling"]["cells"]


def ceiling(cell: dict) -> str:
    """Why an engine slower than a loop baseline is, in the cell's own measured numbers:
    each side's share of the roofline, the rate no step can beat while it does its two
    products the fastest way measured."""
    r, roof = cell["rates"], cell["roofline"]
    shares = ", ".join(f"{k.replace('_', ' ')} {r[k] / r['roofline']:.0%}" for k in ("engine", "loop", "process_loops"))
    ways = roof["fastest_way"]
    head = f"roofline {r['roofline']:.4g}/s (U U^T by {ways['uut']}, T U by {ways['tu']}); of it: {shares}"
    best = max(r["loop"], r["process_loops"])
    if best >= 0.9 * r["roofline"]:
        return f"{head}: the loop baseline runs within 10% of the products' ceiling, which bounds every path"
    return f"{head}: the engine's other passes over n x n buffers (or its threads) cost the difference"


def machine_lines(report: dict) -> list[str]:
    m = report["machine"]
    return [
        f"- CPU: {m.get('cpu_model', m.get('processor', '?'))}, {m.get('cores_available', m['cpu_count'])} cores "
        f"available; {m['threads']} thread(s) for torch and NumPy here, {m['process_loop_workers']} one-thread "
        "worker processes",
        f"- {m.get('python', 'Python ?')}, torch {m['torch']}, NumPy {m['numpy']} (BLAS: {m.get('numpy_blas', '?')}), "
        f"{m.get('platform', '')}",
        f"- commit {m.get('commit', 'unknown')}, run {m.get('date', '?')}, {m.get('wall_s', float('nan')):.0f} s wall",
    ]


def markdown(report: dict) -> str:
    """The scaling table: one row per cell, its misses, and the ceiling behind each miss."""
    cells, s = _cells(report), report["scaling"]["settings"]
    lines = [
        "# DOP scaling table: the engine against NumPy loops and the roofline",
        "",
        *machine_lines(report),
        f"- settings: {s['cell_seconds']} s per timed run, best of {s['cell_repeats']} interleaved rounds, "
        f"at least {s['min_steps']} and at most {s['max_steps']} steps; lr {s['lr']}, alpha = {s['alpha']}",
        "",
        NOTE,
        "The engine's path per cell (`implicit_bias.rpca.dop_plan`): what computes the products (torch or NumPy's "
        "BLAS), the chunk size and the threads sharing the chunks.",
        "",
        "| n | batch | dtype | path | engine | loop | process loops | roofline | engine/loop | engine/procs "
        "| engine/roofline | misses |",
        "|---:|---:|:--|:--|---:|---:|---:|---:|---:|---:|---:|:--|",
    ]
    for c in cells:
        r, q, p = c["rates"], c["ratios"], c.get("plan", {})
        path = f"{p['products']}, chunks of {p['chunk']} on {p['threads']} thr." if p else "-"
        lines.append(
            f"| {c['n']} | {c['batch']} | {c['dtype']} | {path} | {r['engine']:.4g} | {r['loop']:.4g} | "
            f"{r['process_loops']:.4g} | {r['roofline']:.4g} | {q['engine_over_loop']:.2f} | "
            f"{q['engine_over_process_loops']:.2f} | {q['engine_over_roofline']:.2f} | "
            f"{' '.join(c['misses']) or '-'} |"
        )
    slow = [c for c in cells if not (c["checks"]["engine_ge_loop"] and c["checks"]["engine_ge_process_loops"])]
    judged = [c for c in cells if c["checks"]["meets_roofline_share"] is not None]
    met = sum(c["checks"]["meets_roofline_share"] for c in judged)
    ge_loop, ge_procs = (sum(c["checks"][k] for c in cells) for k in ("engine_ge_loop", "engine_ge_process_loops"))
    lines += [
        "",
        "Misses: `<loop` / `<procs`: the engine slower than the loop here / than the process loops; `roof<x`: "
        "the engine below that share of the roofline (targets: 0.85 at n = 50 with batch >= 100, 0.80 at n >= 200).",
        "",
        f"- engine >= loop: {ge_loop} of {len(cells)} cells",
        f"- engine >= process loops: {ge_procs} of {len(cells)} cells",
        f"- roofline share target met: {met} of {len(judged)} cells with a target",
        "",
    ]
    if slow:
        lines += ["## Cells where the engine is below a loop baseline", ""]
        for c in slow:
            lines.append(f"- n = {c['n']}, batch {c['batch']}, {c['dtype']} ({' '.join(c['misses'])}): {ceiling(c)}")
    else:
        lines.append("The engine is at least as fast as both loop baselines in every cell.")
    return "\n".join(lines) + "\n"


def brief(report: dict) -> str:
    """The table's headline in one paragraph: where it ran, and the cells where the engine
    is the slower choice (their ceilings are in :func:`markdown`)."""
    cells = _cells(report)
    ge_loop, ge_procs = (sum(c["checks"][k] for c in cells) for k in ("engine_ge_loop", "engine_ge_process_loops"))
    slow = [c for c in cells if not (c["checks"]["engine_ge_loop"] and c["checks"]["engine_ge_process_loops"])]
    m = report["machine"]
    text = (
        f"Commit `{m.get('commit', '?')}`, {m.get('cpu_model', '?')}, {m.get('threads', '?')} threads and "
        f"{m.get('process_loop_workers', '?')} one-thread processes: the engine is at least as fast as the NumPy "
        f"loop in this process in {ge_loop} of {len(cells)} cells, and as the one-thread process loops in "
        f"{ge_procs} of {len(cells)}"
    )
    if slow:
        named = "; ".join(f"n = {c['n']}, batch {c['batch']}, {c['dtype']} ({' '.join(c['misses'])})" for c in slow)
        text += f". Below a loop baseline: {named}."
    else:
        text += "."
    return text + "\n"


def draw(report: dict, stem: Path) -> list[Path]:
    """Rate against n, one panel per dtype (rows) and batch (columns); writes PNG and PDF."""
    cells = _cells(report)
    dtypes = list(dict.fromkeys(c["dtype"] for c in cells))
    batches = sorted({c["batch"] for c in cells})
    sizes = sorted({c["n"] for c in cells})
    fig, axes = figure(len(batches), len(dtypes), width=2.1, height=1.9, sharex=True, sharey=True)
    with style():
        for i, dtype in enumerate(dtypes):
            for j, batch in enumerate(batches):
                ax = axes[i][j]
                mine = sorted((c for c in cells if c["dtype"] == dtype and c["batch"] == batch), key=lambda c: c["n"])
                for side, (label, color, marker, ls) in SIDES.items():
                    ax.plot(
                        [c["n"] for c in mine],
                        [c["rates"][side] for c in mine],
                        color=color,
                        marker=marker or None,
                        markersize=3.5,
                        linestyle=ls,
                        label=label,
                    )
                for c in mine:
                    if c["misses"] and any(m in ("<loop", "<procs") for m in c["misses"]):
                        ax.plot(c["n"], c["rates"]["engine"], "x", color="k", markersize=6, zorder=5)
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xticks(sizes, [str(n) for n in sizes])
                ax.minorticks_off()
                ax.set_title(f"{dtype}, batch {batch}")
                if i == len(dtypes) - 1:
                    ax.set_xlabel("matrix size n")
                if j == 0:
                    ax.set_ylabel("problem-steps / s")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.tight_layout()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    m = report["machine"]
    box = stamp_figure(
        fig,
        f"{NOTE} A cross marks an engine below a loop baseline. {m.get('cpu_model', '')}, "
        f"{m['threads']} threads; torch {m['torch']}, NumPy {m['numpy']}; commit {m.get('commit', 'unknown')}.",
    )
    out = [stem.with_name(stem.name + suffix) for suffix in (".png", ".pdf")]
    save_figures(fig, out, box)
    return out


def publish(report: dict, markdown_path: str | None, figure_stem: str | None) -> list[Path]:
    """Writes what is asked for; returns the paths written."""
    written = []
    if markdown_path:
        path = Path(markdown_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(report))
        written.append(path)
        short = path.with_name("brief.md")
        short.write_text(brief(report))
        written.append(short)
    if figure_stem:
        written += draw(report, Path(figure_stem))
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="bench_rpca.py's JSON, with its scaling table")
    ap.add_argument("--markdown", help="write the table here (.md)")
    ap.add_argument("--figure", help="write the figure to this path + .png and + .pdf")
    opts = ap.parse_args()
    report = json.loads(Path(opts.json).read_text())
    if not report.get("scaling", {}).get("cells"):
        ap.error(f"{opts.json} holds no scaling table")
    for path in publish(report, opts.markdown, opts.figure):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
