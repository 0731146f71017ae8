"""The CPU indexing path's efficiency measures: chunking, IPTC look-ups, the allocator settings."""

from __future__ import annotations

import pytest

from desktop_search.core.indexing.pipeline import cpu_chunk_bounds
from desktop_search.core.models import device


@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 16, 33, 200, 1001])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_cpu_chunks_cover_every_photo_once_and_shrink_at_the_end(n: int, workers: int) -> None:
    bounds = cpu_chunk_bounds(n, 4, workers)
    assert [i for i, _ in bounds] == [0, *[j for _, j in bounds[:-1]]][: len(bounds)]
    assert (bounds[-1][1] if bounds else 0) == n
    sizes = [j - i for i, j in bounds]
    assert all(1 <= s <= 4 for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if n >= 2 * workers:
        assert sizes[-workers:] == [1] * workers
    if n >= 64:
        assert sizes.count(4) >= (n - 8 * workers) // 4


def test_cpu_allocator_settings_are_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    first = device.tune_cpu_allocator()
    assert device.tune_cpu_allocator() is first
    device.release_cpu_memory()  # harmless anywhere
    if device._libc() is not None:
        assert first is (device._malloc_tuned is True)


def test_cpu_allocator_settings_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_malloc_tuned", None)
    monkeypatch.setenv(device.MALLOC_TUNING_ENV, "0")
    calls: list[object] = []
    monkeypatch.setattr(device, "_libc", lambda: calls.append(1))
    assert device.tune_cpu_allocator() is False
    assert calls == []
