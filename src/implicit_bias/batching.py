"""Running a batch of independent problems in cache-sized chunks, on every CPU thread.

The solvers here are batched over independent trials. On a CPU two things decide their
speed for small matrices (n = 50): whether a chunk's state stays in cache from one step
to the next, and whether every core is busy. Batched kernels over a whole large batch
miss on both counts: they stream memory, and batched LAPACK calls (``eigh``) run one
matrix after another on one core. So a batch is cut into chunks, and the chunks are
shared among as many Python threads as torch has intra-op threads, each chunk's kernels
running single-threaded (torch releases the GIL inside its kernels). Every trial is
computed alone from its own data, so no result depends on the chunking or thread count.
On GPUs the whole batch runs as one chunk, so that each kernel launch does the most work.

A solver may also compute some products with NumPy, whose BLAS (OpenBLAS in NumPy's
wheels) keeps its own thread pool: :func:`numpy_blas_threads` sets it for the duration
(through threadpoolctl), so that chunks on several threads each call it on one thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")

# torch's thread count is process-wide; chunked runs set it, so they must not overlap.
_THREADS_LOCK = threading.Lock()


def batch_chunk(
    entries: int,
    dtype: torch.dtype,
    device: torch.device | str,
    batch: int,
    *,
    buffers: int = 8,
    cache_bytes: int = 8 << 20,
    workers: int | None = None,
) -> int:
    """How many batch elements to run together.

    :param entries: matrix entries of one element's largest buffer (``n * n``).
    :param dtype: their type.
    :param device: where they live; off the CPU, the whole batch.
    :param batch: the batch size.
    :param buffers: buffers of that size a solver keeps per element.
    :param cache_bytes: bytes a chunk's buffers may take (about the last-level cache share
        that keeps the phase-transition workload, n = 50, out of main memory).
    :param workers: threads the chunks are shared among (None: torch's thread count); the
        number of chunks is made a multiple of it, so that no thread idles at the end.
    :returns: a chunk size in ``[1, batch]``.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if torch.device(device).type != "cpu":
        return batch
    workers = torch.get_num_threads() if workers is None else max(1, int(workers))
    per_element = buffers * entries * (torch.finfo(dtype).bits // 8)
    largest = max(1, min(batch, cache_bytes // max(per_element, 1)))
    count = -(-batch // largest)
    count = min(batch, -(-count // workers) * workers)
    return -(-batch // count)


def chunk_slices(batch: int, chunk: int) -> list[slice]:
    """Consecutive slices of at most ``chunk`` elements that cover ``range(batch)``."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return [slice(i, min(i + chunk, batch)) for i in range(0, batch, chunk)]


@contextlib.contextmanager
def _single_threaded_kernels():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def single_threaded():
    """Torch kernels on one thread for the duration (small matrices gain nothing from more,
    and lose much on a busy machine); not to be nested with :func:`map_chunks`."""
    with _THREADS_LOCK, _single_threaded_kernels():
        yield


def map_chunks(
    fn: Callable[[slice], T], slices: Sequence[slice], device: torch.device | str, workers: int | None = None
) -> list[T]:
    """``[fn(s) for s in slices]``, run by ``workers`` threads on CPU.

    :param fn: computes one chunk; it must only read shared inputs and return its outputs.
    :param slices: the chunks, from :func:`chunk_slices`.
    :param device: where the tensors live; off the CPU the chunks run in order.
    :param workers: threads; None takes torch's intra-op thread count. With more than one,
        torch runs single-threaded kernels in each for the duration.
    :returns: the results, in the order of ``slices``.
    """
    if workers is None:
        workers = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    workers = max(1, min(int(workers), len(slices)))
    if workers == 1:
        return [fn(s) for s in slices]
    with _THREADS_LOCK, _single_threaded_kernels(), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, slices))


@functools.cache
def numpy_blas_controllable() -> bool:
    """Whether :func:`numpy_blas_threads` can set the thread count of NumPy's BLAS (a BLAS
    that threadpoolctl knows is loaded)."""
    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded by now
    return any(pool["user_api"] == "blas" for pool in threadpool_info())


@contextlib.contextmanager
def numpy_blas_threads(count: int):
    """NumPy's BLAS on ``count`` threads for the duration (process-wide, like torch's thread
    count; threadpoolctl); nothing changes where :func:`numpy_blas_controllable` is False.

    :param count: threads, at least 1.
    """
    with threadpool_limits(limits=max(1, int(count)), user_api="blas"):
        yield
