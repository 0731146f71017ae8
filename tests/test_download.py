"""Downloads against a loopback stand-in for the hub: progress, resume, restarts, checksums, offline.

No test here touches the internet, imports torch or open_clip; caches live under tmp_path.
"""

from __future__ import annotations

import argparse
import json
import os
import threading

import pytest

from desktop_search.core import paths
from desktop_search.core.models import catalog, download
from desktop_search.core.models.catalog import CatalogEntry, WeightsFile
from desktop_search.core.models.download import (
    Busy,
    ChecksumMismatch,
    DownloadError,
    NotFound,
    Offline,
    download_file,
    download_model,
    hub_file_url,
)
from desktop_search.core.models.registry import ModelUnavailable
from tests.loopback_hub import LoopbackHub, closed_port_url

REPO = "test-org/Tiny-OpenCLIP"
DATA = os.urandom(3 * 1024 * 1024 + 123)  # a few chunks, not a round number


@pytest.fixture(autouse=True)
def _never_the_real_hub(monkeypatch):
    """Whatever a test forgets, downloads go to a dead loopback port, never to the internet."""
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def hub(home, monkeypatch):
    with LoopbackHub() as server:
        monkeypatch.setenv(download.HUB_ENV, server.url)
        yield server


def _files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None) -> None:
        self.calls.append((done, total))


def test_hub_url_is_overridable(monkeypatch):
    monkeypatch.delenv(download.HUB_ENV, raising=False)
    assert hub_file_url("a/b", "x y.bin") == "https://huggingface.co/a/b/resolve/main/x%20y.bin"
    monkeypatch.setenv(download.HUB_ENV, "http://127.0.0.1:9/")
    assert hub_file_url("a/b", "f", "abc") == "http://127.0.0.1:9/a/b/resolve/abc/f"


def test_download_with_progress_and_published_checksum(hub, home):
    served = hub.state.add(REPO, "open_clip_model.safetensors", DATA)
    dest = paths.models_dir() / "x" / "open_clip_model.safetensors"
    progress = Recorder()

    got = download_file(hub_file_url(REPO, "open_clip_model.safetensors"), dest, progress=progress)

    assert got == dest and dest.read_bytes() == DATA
    assert progress.calls[0] == (0, len(DATA)) and progress.calls[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in progress.calls] == sorted(d for d, _ in progress.calls)
    # the redirect's X-Linked-Etag was the checksum; the digest is kept beside the file
    assert download.read_checksum(dest) == served.sha256
    assert _files_in(dest.parent) == ["open_clip_model.safetensors", "open_clip_model.safetensors.sha256"]
    assert hub.state.requests[0].path.endswith("/resolve/main/open_clip_model.safetensors")


def test_interrupted_download_resumes_with_range(hub, home):
    hub.state.add(REPO, "w.bin", DATA)
    hub.state.cut_after, hub.state.cuts = 1_000_000, 1
    dest = home / "w.bin"
    url = hub_file_url(REPO, "w.bin")

    with pytest.raises(DownloadError, match="interrupted"):
        download_file(url, dest, retries=0)
    part = dest.with_name("w.bin.part")
    assert part.stat().st_size == 1_000_000 and not dest.exists()

    progress = Recorder()
    download_file(url, dest, progress=progress)

    assert dest.read_bytes() == DATA and not part.exists()
    body = hub.state.body_requests()
    assert [r.range for r in body] == [None, "bytes=1000000-"]
    assert progress.calls[0] == (1_000_000, len(DATA))


def test_drop_mid_file_is_resumed_within_one_call(hub, home):
    hub.state.add(REPO, "w.bin", DATA)
    hub.state.cut_after, hub.state.cuts = 700_000, 2
    dest = home / "w.bin"
    download_file(hub_file_url(REPO, "w.bin"), dest, retries=3)
    assert dest.read_bytes() == DATA
    assert [r.range for r in hub.state.body_requests()] == [None, "bytes=700000-", "bytes=1400000-"]


def test_server_ignoring_range_restarts_cleanly(hub, home):
    hub.state.add(REPO, "w.bin", DATA)
    hub.state.ignore_range = True
    dest = home / "w.bin"
    dest.with_name("w.bin.part").write_bytes(b"stale bytes from some other file")
    download_file(hub_file_url(REPO, "w.bin"), dest)
    assert dest.read_bytes() == DATA
    assert hub.state.body_requests()[0].range == "bytes=32-"


def test_stale_part_longer_than_the_file_restarts(hub, home):
    hub.state.add(REPO, "w.bin", DATA)
    dest = home / "w.bin"
    dest.with_name("w.bin.part").write_bytes(b"\0" * (len(DATA) + 10))
    download_file(hub_file_url(REPO, "w.bin"), dest)
    assert dest.read_bytes() == DATA


def test_complete_part_left_by_a_crash_is_verified_not_fetched_again(hub, home):
    served = hub.state.add(REPO, "w.bin", DATA)
    dest = home / "w.bin"
    dest.with_name("w.bin.part").write_bytes(DATA)
    download_file(hub_file_url(REPO, "w.bin"), dest)
    assert dest.read_bytes() == DATA and download.read_checksum(dest) == served.sha256
    assert [r.range for r in hub.state.body_requests()] == [f"bytes={len(DATA)}-"]


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned-sha256", "hub-published-sha256"])
def test_corrupted_file_is_rejected_and_removed(hub, home, pinned):
    served = hub.state.add(REPO, "w.safetensors", DATA)
    hub.state.corrupt = True
    dest = paths.models_dir() / "m" / "w.safetensors"
    with pytest.raises(ChecksumMismatch, match="corrupt") as info:
        download_file(hub_file_url(REPO, "w.safetensors"), dest, sha256=served.sha256 if pinned else None)
    assert isinstance(info.value, ModelUnavailable)
    assert "\n" not in str(info.value)
    assert _files_in(paths.models_dir()) == []


def test_small_git_file_checked_against_git_sha1(hub, home):
    hub.state.add(REPO, "tokenizer.json", b'{"version": "1.0"}', lfs=False)
    dest = home / "tokenizer.json"
    download_file(hub_file_url(REPO, "tokenizer.json"), dest)
    assert dest.read_bytes() == b'{"version": "1.0"}'
    hub.state.corrupt = True
    with pytest.raises(ChecksumMismatch, match="git sha1"):
        download_file(hub_file_url(REPO, "tokenizer.json"), home / "again.json")


def test_missing_file_is_not_found(hub, home):
    with pytest.raises(NotFound, match="404"):
        download_file(hub_file_url(REPO, "nope.bin"), home / "nope.bin")
    assert _files_in(home) == []


def test_offline_is_a_clear_one_liner(home, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv(download.HUB_ENV, url)
    with pytest.raises(Offline) as info:
        download_file(hub_file_url(REPO, "w.bin"), home / "w.bin", timeout=5)
    message = str(info.value)
    assert isinstance(info.value, ModelUnavailable)
    assert "\n" not in message and "cannot reach 127.0.0.1" in message and "connection refused" in message
    assert not (home / "w.bin").exists()


def test_a_second_downloader_of_the_same_file_is_told_busy(hub, home):
    hub.state.add(REPO, "w.bin", DATA)
    dest = home / "w.bin"
    gate, release = threading.Event(), threading.Event()

    def slow_progress(done: int, total: int | None) -> None:
        gate.set()
        release.wait(10)

    worker = threading.Thread(
        target=download_file, args=(hub_file_url(REPO, "w.bin"), dest), kwargs={"progress": slow_progress}
    )
    worker.start()
    try:
        assert gate.wait(10)
        with pytest.raises(Busy):
            download_file(hub_file_url(REPO, "w.bin"), dest)
    finally:
        release.set()
        worker.join(10)
    assert dest.read_bytes() == DATA


# -- catalogued models -------------------------------------------------------------------------


def _entry(**overrides) -> CatalogEntry:
    fields = dict(
        arch="Tiny-Test",
        pretrained="random",
        hf_repo=REPO,
        weights=(WeightsFile("open_clip_model.safetensors"), WeightsFile("open_clip_pytorch_model.bin")),
        size_mb=3,
        speed="fast",
        image_size=32,
        dim=32,
    )
    fields.update(overrides)
    return CatalogEntry(**fields)


@pytest.fixture
def tiny_entry():
    entry = _entry()
    catalog.register(entry)
    yield entry
    catalog.unregister(entry.name)


def test_download_model_falls_back_to_the_bin_and_fetches_tokenizer_files(hub, home):
    hub.state.add(REPO, "open_clip_pytorch_model.bin", DATA)
    hub.state.add(REPO, "tokenizer.json", b"{}", lfs=False)
    entry = _entry(tokenizer_files=("tokenizer.json", "special_tokens_map.json"))

    weights = download_model(entry)

    folder = catalog.model_dir(entry.arch, entry.pretrained)
    assert weights == folder / "open_clip_pytorch_model.bin" and weights.read_bytes() == DATA
    assert (folder / "tokenizer.json").is_file() and (folder / "special_tokens_map.json.absent").is_file()
    assert catalog.is_downloaded(entry)
    n = len(hub.state.requests)
    assert download_model(entry) == weights and len(hub.state.requests) == n  # all cached: no request


def test_catalog_entries_are_well_formed():
    names = [e.name for e in catalog.CATALOG]
    assert len(names) == len(set(names)) >= 3
    for entry in catalog.CATALOG:
        assert catalog.parse_clip_name(entry.name) == (entry.arch, entry.pretrained)
        assert entry.weights[0].filename.endswith(".safetensors")
        assert all(w.sha256 is None or len(w.sha256) == 64 for w in entry.weights)
        assert entry.speed in ("fast", "medium", "slow") and entry.size_mb > 0 and entry.figures.source
    with pytest.raises(ModelUnavailable):
        catalog.parse_clip_name("clip:../etc/passwd")


# -- the `models` command ----------------------------------------------------------------------


def _run_cli(*argv: str) -> int:
    from desktop_search.commands import models as models_command

    parser = argparse.ArgumentParser(prog="desktop-search")
    sub = parser.add_subparsers(dest="command")
    models_command.add_parser(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_list_json_marks_downloaded(hub, home, tiny_entry, capsys):
    assert _run_cli("models", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {e.name for e in catalog.CATALOG} <= set(rows)
    assert rows[tiny_entry.name]["downloaded"] is False
    assert rows["clip:ViT-B-32/laion2b_s34b_b79k"]["figures"]["mscoco_t2i_r1"] == pytest.approx(0.3934)

    hub.state.add(REPO, "open_clip_model.safetensors", DATA)
    assert _run_cli("models", "download", tiny_entry.name) == 0
    out = capsys.readouterr().out
    assert "100%" in out and "downloaded: clip:Tiny-Test/random in " in out  # plain lines: not a tty
    assert _run_cli("models", "download", "Tiny-Test/random") == 0  # the clip: prefix is optional
    assert "already downloaded" in capsys.readouterr().out

    assert _run_cli("models", "list") == 0
    table = capsys.readouterr().out
    line = next(ln for ln in table.splitlines() if ln.startswith(tiny_entry.name))
    assert line.rstrip().endswith("yes")
    assert "MobileCLIP-S2" in table and "IN-1k 74.4" in table


def test_cli_download_offline_is_one_line_and_exit_1(home, tiny_entry, monkeypatch, capsys):
    monkeypatch.setenv(download.HUB_ENV, closed_port_url())
    assert _run_cli("models", "download", tiny_entry.name) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("desktop-search: cannot reach 127.0.0.1")
    assert not catalog.model_dir(tiny_entry.arch, tiny_entry.pretrained).exists()  # no empty folder left
