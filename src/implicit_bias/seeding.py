"""Seeds that depend on what a trial is, never on how the work was batched or sharded."""

from __future__ import annotations

import zlib

import numpy as np


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def trial_seed(base_seed: int, sweep: str, problem_key: str, trial: int) -> int:
    """Return the seed of one trial.

    :param base_seed: the configuration's ``seed``.
    :param sweep: the sweep's name (``rpca_alpha``, ...).
    :param problem_key: a string naming the problem instance's parameters (not the method's),
        so that methods compared on one problem see the same data.
    :param trial: the trial's index within the problem.
    :returns: a non-negative 63-bit integer.
    """
    if trial < 0:
        raise ValueError(f"trial index must be >= 0, got {trial}")
    seq = np.random.SeedSequence(entropy=int(base_seed), spawn_key=(_key(sweep), _key(problem_key), trial))
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int) -> np.random.Generator:
    """A NumPy generator for ``seed`` (PCG64)."""
    return np.random.Generator(np.random.PCG64(seed))


def trial_rngs(seed: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators spawned from one trial seed.

    By convention the first draws the problem instance and the second the
    initialization, so that methods compared on one trial share both.
    """
    children = np.random.SeedSequence(seed).spawn(count)
    return [np.random.Generator(np.random.PCG64(c)) for c in children]
