# Implicit bias of gradient descent: double over-parameterization with discrepant learning
# rates (You, Zhu, Qu, Ma 2020) and initialization rank in matrix sensing (Eftekhari,
# Zygalakis 2021). `snakemake --cores all` makes every figure at the configured size.
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


ROOT = Path(workflow.basedir)


include: "workflow/rules/common.smk"
include: "workflow/rules/rpca.smk"
include: "workflow/rules/images.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
