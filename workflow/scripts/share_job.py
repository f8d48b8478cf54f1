"""Give a job the tables and files of the run another sweep's job made (the same computation)."""

import shutil
import sys
from pathlib import Path

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from implicit_bias.records import read_table, write_table  # noqa: E402

summary_in, curves_in, *files_in = snakemake.input
sweep = snakemake.wildcards.sweep
for source, target in ((summary_in, snakemake.output.summary), (curves_in, snakemake.output.curves)):
    table = read_table(source)
    if not table.empty:
        table["shared_from"] = table["sweep"]
        table["sweep"] = sweep
    write_table(table, target)
for source, target in zip(files_in, snakemake.output.files, strict=True):
    shutil.copyfile(source, target)
print(f"shared the run of {Path(summary_in).parent} with sweep {sweep}")
