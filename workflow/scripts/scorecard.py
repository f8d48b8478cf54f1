"""Judge every claim from the result tables; write results/scorecard.csv and .md."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from implicit_bias.experiments import registry  # noqa: E402
from implicit_bias.records import read_table  # noqa: E402
from implicit_bias.scorecard import scorecard, write_scorecard  # noqa: E402

sweeps = snakemake.params.sweeps
tables = {
    name: {"summary": read_table(summary), "curves": read_table(curves)}
    for name, summary, curves in zip(sweeps, snakemake.input.summary, snakemake.input.curves, strict=True)
}
card = scorecard(snakemake.params.size, sweeps, tables, registry().claims, snakemake.params.figures)
notes = write_scorecard(
    card,
    tables,
    csv=snakemake.output.csv,
    md=snakemake.output.md,
    commit=snakemake.params.commit,
    code=snakemake.params.code,
)
print(card[["claim_id", "holds"]].to_string())
for note in notes:
    print("warning:", note)
