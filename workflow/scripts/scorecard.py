"""Judge every claim from the result tables; write results/scorecard.csv and .md."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from implicit_bias.experiments import registry  # noqa: E402
from implicit_bias.records import read_table, write_table  # noqa: E402
from implicit_bias.scorecard import code_notes, scorecard, to_markdown  # noqa: E402

sweeps = snakemake.params.sweeps
tables = {
    name: {"summary": read_table(summary), "curves": read_table(curves)}
    for name, summary, curves in zip(sweeps, snakemake.input.summary, snakemake.input.curves, strict=True)
}
card = scorecard(snakemake.params.size, sweeps, tables, registry().claims, snakemake.params.figures)
notes = code_notes(tables, snakemake.params.code)
write_table(card, snakemake.output.csv)
Path(snakemake.output.md).write_text(to_markdown(card, snakemake.params.commit, snakemake.params.code, notes))
print(card[["claim_id", "holds"]].to_string())
for note in notes:
    print("warning:", note)
