"""The CPU indexing path's efficiency measures: chunking, IPTC look-ups, the allocator settings."""

from __future__ import annotations

import pytest

from desktop_search.core.models import device


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
