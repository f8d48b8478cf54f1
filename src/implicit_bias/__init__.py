"""Experiments on the implicit bias of gradient descent.

Replicates You, Zhu, Qu, Ma (NeurIPS 2020), "Robust Recovery via Implicit Bias of
Discrepant Learning Rates for Double Over-parameterization", and Eftekhari, Zygalakis
(2021), "Limitations of Implicit Bias in Matrix Sensing: Initialization Rank Matters",
and adds numerical checks of their theory.
"""

__version__ = "0.1.0"
