"""Judge every claim from the result tables; write results/scorecard.csv and .md."""

import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import implicit_bias.tasks  # noqa: E402,F401  (registers the claims)
from implicit_bias.records import read_table, write_table  # noqa: E402
from implicit_bias.scorecard import scorecard, to_markdown  # noqa: E402

sweeps = snakemake.params.sweeps
tables = {
    name: {"summary": read_table(summary), "curves": read_table(curves)}
    for name, summary, curves in zip(sweeps, snakemake.input.summary, snakemake.input.curves, strict=True)
}
card = scorecard(snakemake.params.size, sweeps, tables)
write_table(card, snakemake.output.csv)
Path(snakemake.output.md).write_text(to_markdown(card, snakemake.params.commit))
print(card[["claim_id", "holds"]].to_string())
