"""Building blocks shared by the batched gradient-descent engines (robust PCA, sensing, theory).

A batched run keeps its metrics on the device in a :class:`Recorder` and returns a
:class:`DescentResult`; the host reads the recorded values once, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DescentResult:
    """What a batched descent returns.

    :ivar X: final low-rank estimate, ``(B, n, n)``.
    :ivar S: final sparse estimate, ``(B, n, n)`` (zeros for methods without one).
    :ivar iterations: the recorded iterations, ``(T,)``.
    :ivar curves: metric name to a ``(T, B)`` tensor recorded at ``iterations``.
    :ivar diverged: ``(B,)`` booleans, True where a non-finite value appeared.
    :ivar steps_run: how many steps were taken (fewer than asked if every run diverged).
    :ivar X_snapshot: ``X`` at an earlier step the engine was asked for (the convergence
        gate's 90% point, :func:`snapshot_step`), shaped like ``X``; None if not asked.
    """

    X: torch.Tensor
    S: torch.Tensor
    iterations: torch.Tensor
    curves: dict
    diverged: torch.Tensor
    steps_run: int
    X_snapshot: torch.Tensor | None = None

    def select(self, index: int) -> DescentResult:
        """Batch element ``index`` as a batch of one."""
        return DescentResult(
            self.X[index : index + 1],
            self.S[index : index + 1],
            self.iterations,
            {name: v[:, index : index + 1] for name, v in self.curves.items()},
            self.diverged[index : index + 1],
            self.steps_run,
            None if self.X_snapshot is None else self.X_snapshot[index : index + 1],
        )


def check_descent_args(lr: float, steps: int) -> None:
    """Refuse a step size that is not positive and a negative number of steps."""
    if not lr > 0:
        raise ValueError(f"learning rate must be > 0, got {lr}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")


def snapshot_step(steps: int, fraction: float = 0.9) -> int:
    """The step at which the convergence gate compares the iterate with the last one: the
    iterate's change over the last ``1 - fraction`` of the steps (see
    :func:`implicit_bias.scorecard.convergence`)."""
    return int(fraction * steps)


def record_steps(steps: int, record_every: int) -> list[int]:
    """Iterations at which curves are recorded: 0, every ``record_every``, and the last."""
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    marks = list(range(0, steps + 1, record_every))
    if marks[-1] != steps:
        marks.append(steps)
    return marks


class Recorder:
    """Metrics of a batch at the iterations of :func:`record_steps`, kept on the device.

    :param steps: the run's number of steps.
    :param record_every: the recording interval.
    :param names: the metrics.
    :param batch: the batch size.
    :param like: a tensor whose dtype and device the records take.
    """

    def __init__(self, steps: int, record_every: int, names, batch: int, like: torch.Tensor):
        self.marks = record_steps(steps, record_every)
        self.index = {m: i for i, m in enumerate(self.marks)}
        self.values = {
            k: torch.full((len(self.marks), batch), float("nan"), dtype=like.dtype, device=like.device) for k in names
        }
        self.filled = 0

    def wants(self, step: int) -> bool:
        return step in self.index

    def put(self, step: int, **metrics) -> None:
        i = self.index[step]
        for k, v in metrics.items():
            self.values[k][i] = v
        self.filled = i + 1

    def result(self) -> tuple[torch.Tensor, dict]:
        """``(iterations, curves)`` of the rows recorded so far."""
        its = torch.tensor(self.marks[: self.filled])
        return its, {k: v[: self.filled] for k, v in self.values.items()}
