"""Chunked, multi-threaded batch runs: chunk sizes, coverage, order, errors."""

from __future__ import annotations

import threading

import pytest
import torch

from implicit_bias.batching import batch_chunk, chunk_slices, map_chunks


def test_batch_chunk_fits_the_cache_budget_and_balances_workers():
    # 8 buffers of 50 x 50 float64 = 160 kB per element: 52 fit in 8 MiB; 250 elements
    # need 5 chunks, rounded up to 6 for 2 workers: chunks of 42.
    assert batch_chunk(2500, torch.float64, "cpu", 250, workers=1) == 50
    assert batch_chunk(2500, torch.float64, "cpu", 250, workers=2) == 42
    assert batch_chunk(2500, torch.float32, "cpu", 250, workers=1) == 84  # 104 fit: 3 chunks
    assert batch_chunk(2500, torch.float64, "cpu", 10, workers=2) == 5
    assert batch_chunk(2500, torch.float64, "cpu", 1, workers=4) == 1
    assert batch_chunk(10**9, torch.float64, "cpu", 10, workers=1) == 1
    assert batch_chunk(2500, torch.float64, "meta", 250) == 250  # not a CPU: whole batch
    with pytest.raises(ValueError, match="batch"):
        batch_chunk(2500, torch.float64, "cpu", 0)


@pytest.mark.parametrize("batch,chunk", [(1, 1), (10, 3), (10, 10), (7, 20)])
def test_chunk_slices_cover_the_batch_in_order(batch, chunk):
    slices = chunk_slices(batch, chunk)
    covered = [i for s in slices for i in range(batch)[s]]
    assert covered == list(range(batch))
    assert all(s.stop - s.start <= chunk for s in slices)
    with pytest.raises(ValueError, match="chunk"):
        chunk_slices(batch, 0)


def test_map_chunks_keeps_order_uses_threads_and_restores_thread_count():
    before = torch.get_num_threads()
    seen_threads, seen_counts = set(), set()
    barrier = threading.Barrier(2, timeout=10)

    def work(s):
        seen_threads.add(threading.get_ident())
        seen_counts.add(torch.get_num_threads())
        barrier.wait()  # both workers must be running at once, or this times out
        return list(range(20)[s])

    out = map_chunks(work, chunk_slices(20, 5)[:2] * 2, "cpu", workers=2)
    assert out == [list(range(5)), list(range(5, 10))] * 2
    assert len(seen_threads) == 2 and seen_counts == {1}
    assert torch.get_num_threads() == before
    assert map_chunks(lambda s: s.start, chunk_slices(9, 3), "cpu", workers=1) == [0, 3, 6]


def test_numpy_blas_threads_sets_and_restores_the_count():
    from threadpoolctl import threadpool_info

    from implicit_bias.batching import numpy_blas_controllable, numpy_blas_threads

    def counts():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    if not numpy_blas_controllable():
        with numpy_blas_threads(1):  # nothing to set: a no-op
            pass
        pytest.skip("no BLAS whose thread count can be set is loaded")
    before = counts()
    with numpy_blas_threads(1):
        assert set(counts()) == {1}
    assert counts() == before
    with pytest.raises(RuntimeError), numpy_blas_threads(1):
        raise RuntimeError
    assert counts() == before
