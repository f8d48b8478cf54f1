"""Stack a sweep's per-job tables into results/<sweep>/summary.csv and curves.csv."""

import sys

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)

from implicit_bias.records import concat_tables, write_table  # noqa: E402

for table in ("summary", "curves"):
    frame = concat_tables(snakemake.input[table])
    write_table(frame, snakemake.output[table])
    print(f"{snakemake.output[table]}: {len(frame)} rows from {len(snakemake.input[table])} jobs")
