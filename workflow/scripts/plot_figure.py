"""Draw one figure from result tables alone."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from implicit_bias.experiments import draw_figure  # noqa: E402
from implicit_bias.records import read_table  # noqa: E402

spec = snakemake.params.spec
tables = {
    sweep: {
        "settings": spec["settings"][sweep],
        "summary": read_table(summary),
        "curves": read_table(curves),
        "jobs_dir": Path(summary).parent / "jobs",
    }
    for sweep, summary, curves in zip(spec["sweeps"], snakemake.input.summary, snakemake.input.curves, strict=True)
}
draw_figure(spec["module"], spec["plot"], tables, [snakemake.output.pdf, snakemake.output.png], snakemake.params.stamp)
print(f"drew {snakemake.output.pdf} with plot {spec['plot']!r} from sweeps {spec['sweeps']}")
