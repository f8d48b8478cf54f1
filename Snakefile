# Implicit bias of gradient descent: double over-parameterization with discrepant learning
# rates (You, Zhu, Qu, Ma 2020) and initialization rank in matrix sensing (Eftekhari,
# Zygalakis 2021). `snakemake --cores all` makes every figure at the configured size.
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")


ROOT = Path(workflow.basedir)


# The repository's config.yaml, also when --directory puts the outputs elsewhere;
# `--configfile overlay.yaml` merges on top of it, `--config key=value` on top of that.
configfile: str(ROOT / "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/scorecard.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
