"""Resumable, verified downloads of model files over plain HTTP(S) (stdlib ``urllib`` only).

* Data goes to ``<dest>.part``; an interrupted download resumes from there with an HTTP ``Range``
  request. A server that ignores ``Range`` (answers 200 instead of 206) restarts the file cleanly.
* The finished file is checked (size, then sha256) before it is moved into place with an atomic
  ``os.replace``; a file that fails the check is deleted and :class:`ChecksumMismatch` raised.
* The expected sha256 is the caller's (pinned in the catalog) or, failing that, the one the Hugging
  Face hub publishes: for Git-LFS files the ``X-Linked-Etag`` header of its redirect is the file's
  sha256; for small files kept in git the ``ETag`` is the git blob sha1, which is checked as such.
* Every failure is a :class:`ModelUnavailable` subclass with a one-line message; being offline
  (DNS failure, refused connection, timeout) is :class:`Offline`.

The hub's base URL is ``https://huggingface.co``, overridable with ``DESKTOP_SEARCH_HUB_URL`` (tests
point it at a loopback server). Nothing here unpickles anything: it only moves bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any

from .. import paths
from ..errors import ModelUnavailable
from ..filelock import lock_nowait, unlock
from .catalog import CatalogEntry, WeightsFile, cached_weights, model_dir

log = logging.getLogger(__name__)

HUB_ENV = "DESKTOP_SEARCH_HUB_URL"
DEFAULT_HUB_URL = "https://huggingface.co"
#: seconds to wait for a connection and for each read
DEFAULT_TIMEOUT = 30.0
CHUNK = 1 << 20
USER_AGENT = "desktop-search (model download; urllib)"

#: ``progress(bytes_done, bytes_total_or_None)``
ProgressCallback = Callable[[int, "int | None"], None]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_CONTENT_RANGE_UNSATISFIED = re.compile(r"^bytes\s+\*/(\d+)$")


class DownloadError(ModelUnavailable):
    """A model file could not be downloaded."""


class Offline(DownloadError):
    """The server could not be reached (no network, DNS failure, refused connection, timeout)."""


class NotFound(DownloadError):
    """The server has no such file (HTTP 404)."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the expected file; nothing was kept."""


class Busy(DownloadError):
    """Another process is downloading the same file right now."""


@dataclass(frozen=True)
class _Expected:
    """What the finished file must match; any field may be unknown."""

    sha256: str | None = None
    git_sha1: str | None = None
    size: int | None = None


def hub_url() -> str:
    return (os.environ.get(HUB_ENV) or DEFAULT_HUB_URL).rstrip("/")


def hub_file_url(repo_id: str, filename: str, revision: str = "main") -> str:
    """``{hub}/{repo}/resolve/{revision}/{filename}``, the hub's download URL for one file."""
    quote = urllib.parse.quote
    return f"{hub_url()}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file's contents (what the hub's ETag is for non-LFS files)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_sidecar(path: Path) -> Path:
    """``<file>.sha256``: the verified digest, written next to each downloaded file."""
    return path.with_name(path.name + ".sha256")


def read_checksum(path: Path) -> str | None:
    try:
        value = checksum_sidecar(path).read_text(encoding="ascii").strip().lower()
    except OSError:
        return None
    return value if _HEX64.match(value) else None


# -- HTTP plumbing -----------------------------------------------------------------------------


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, remembering each redirect response's headers.

    The hub answers ``/resolve/`` for large files with a redirect to a CDN whose headers carry the
    file's published checksum (``X-Linked-Etag``) and size (``X-Linked-Size``); the CDN's own
    response does not, so they must be caught on the way.
    """

    def __init__(self) -> None:
        super().__init__()
        self.redirect_headers: list[Message] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.redirect_headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _strip_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


def _expected_from_headers(redirects: list[Message], final: Message) -> _Expected:
    """The hub's published checksum and size, from redirect headers or a direct answer."""
    for headers in redirects:
        etag = _strip_etag(headers.get("X-Linked-Etag"))
        size = headers.get("X-Linked-Size")
        if etag or size:
            return _Expected(
                sha256=etag if etag and _HEX64.match(etag) else None,
                size=int(size) if size and size.isdigit() else None,
            )
    if redirects:
        # redirected without the hub's headers: the final ETag is some CDN's, not a checksum we know
        return _Expected()
    etag = _strip_etag(final.get("X-Linked-Etag") or final.get("ETag"))
    if etag and _HEX64.match(etag):
        return _Expected(sha256=etag)
    if etag and _HEX40.match(etag):
        return _Expected(git_sha1=etag)
    return _Expected()


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _describe_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.gaierror):
        return "name lookup failed"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})"
    text = str(reason).strip() or type(reason).__name__
    return text.splitlines()[0]


def _offline(url: str, exc: BaseException) -> Offline:
    return Offline(f"cannot reach {_host(url)} ({_describe_reason(exc)}): no network?")


def _open(url: str, offset: int, timeout: float) -> tuple[http.client.HTTPResponse, _RecordingRedirects]:
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.redirect_headers = redirects.redirect_headers  # type: ignore[attr-defined]
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _offline(url, exc) from exc
    return response, redirects


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """A non-blocking inter-process lock, so two app instances never append to one ``.part``."""
    paths.ensure(lock_path.parent)
    with open(lock_path, "a+b") as handle:
        try:
            lock_nowait(handle.fileno())
        except OSError as exc:
            raise Busy(
                f"{lock_path.name[:-5]} is being downloaded by another process; try again later"
            ) from exc
        try:
            yield
        finally:
            # Removed while still held: a process that opens the path afterwards locks a fresh file
            # and then finds the download finished (or starts a clean one). Windows refuses; fine.
            with contextlib.suppress(OSError):
                lock_path.unlink()
            with contextlib.suppress(OSError):
                unlock(handle.fileno())


# -- the download itself -----------------------------------------------------------------------


class _Interrupted(Exception):
    """The connection dropped mid-file; what arrived is kept in ``.part`` for a resume."""


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 3,
    trust_server_checksum: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a ``.part`` left by an earlier try) and verify it.

    ``sha256``: the expected digest; when None and ``trust_server_checksum``, the hub's published
    checksum is used where the response carries one. ``retries``: how many times a connection that
    drops mid-file is resumed before giving up (the ``.part`` stays for a later call either way).
    An existing ``dest`` is returned as is. Raises a :class:`DownloadError` subclass.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    paths.ensure(dest.parent)
    part = dest.with_name(dest.name + ".part")
    want_sha = sha256.lower() if sha256 else None
    with _exclusive(dest.with_name(dest.name + ".lock")):
        if dest.is_file():  # another process finished it while we waited for nothing
            return dest
        attempt = 0
        while True:
            try:
                expected = _fetch(url, part, progress=progress, timeout=timeout)
                break
            except Offline as exc:
                raise Offline(f"{exc} Connect and retry, or copy {dest.name} into {dest.parent}") from None
            except _Interrupted as exc:
                attempt += 1
                if attempt > retries:
                    raise DownloadError(
                        f"download of {dest.name} interrupted ({exc}); run it again to resume"
                    ) from None
                log.info("download of %s interrupted (%s); resuming", dest.name, exc)
        if not trust_server_checksum:
            expected = _Expected(size=expected.size)
        digest = _verify(part, dest.name, want_sha, expected) or sha256_file(part)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, dest)
        with contextlib.suppress(OSError):
            checksum_sidecar(dest).write_text(digest + "\n", encoding="ascii")
        for written in (dest, checksum_sidecar(dest), dest.with_name(dest.name + ".lock")):
            paths.make_private(written)
    return dest


def _fetch(url: str, part: Path, *, progress: ProgressCallback | None, timeout: float) -> _Expected:
    """One HTTP exchange: append the rest of the file to ``part``; return what it must match."""
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response, redirects = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            if exc.code == 416 and offset:
                match = _CONTENT_RANGE_UNSATISFIED.match(exc.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    # the .part already holds the whole file (e.g. a crash before it was verified)
                    return _expected_from_headers(getattr(exc, "redirect_headers", []), exc.headers)
                part.unlink(missing_ok=True)  # longer than the file: stale. Start over cleanly.
                raise _Interrupted("server refused the resume range; restarting") from None
            if exc.code == 404:
                raise NotFound(
                    f"{_host(url)} has no {urllib.parse.unquote(url.rsplit('/', 1)[-1])} (HTTP 404)"
                ) from None
            if exc.code in (401, 403):
                raise DownloadError(
                    f"{_host(url)} refused access (HTTP {exc.code}); gated or private repository?"
                ) from None
            raise DownloadError(f"{_host(url)} answered HTTP {exc.code} {exc.reason}") from None

    with contextlib.closing(response):
        status = response.status
        headers = response.headers
        expected = _expected_from_headers(redirects.redirect_headers, headers)
        total: int | None
        if status == 206:
            match = _CONTENT_RANGE.match(headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                # a partial answer that does not continue our file: drop what we have
                part.unlink(missing_ok=True)
                raise _Interrupted("server answered an unexpected range; restarting")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        elif status == 200:
            if offset:
                log.info("server ignored the resume request; restarting %s from zero", part.name)
            offset = 0
            length = headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        else:
            raise DownloadError(f"{_host(url)} answered HTTP {status}")
        if expected.size is not None and total is not None and expected.size != total:
            raise DownloadError(
                f"{_host(url)} announced {total} bytes but publishes {expected.size} for this file"
            )
        total = total if total is not None else expected.size
        if total is not None:
            _check_space(part.parent, total - offset)
        done = offset
        if progress:
            progress(done, total)
        with open(part, mode) as out:
            done = _copy(response, out, done, total, progress)
        if total is not None and done < total:
            raise _Interrupted(f"{done} of {total} bytes")
    return expected


def _copy(src: Any, out: IO[bytes], done: int, total: int | None, progress: ProgressCallback | None) -> int:
    while True:
        try:
            chunk = src.read(CHUNK)
        except (http.client.IncompleteRead, OSError, http.client.HTTPException) as exc:
            out.flush()
            raise _Interrupted(_describe_reason(exc)) from None
        if not chunk:
            return done
        out.write(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)


def _check_space(folder: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise DownloadError(
            f"not enough disk space in {folder}: {needed / 1e6:.0f} MB needed, {free / 1e6:.0f} MB free"
        )


def _verify(part: Path, label: str, want_sha: str | None, expected: _Expected) -> str | None:
    """Check size and checksum; delete ``part`` and raise :class:`ChecksumMismatch` on failure.

    Returns the file's sha256 when it was computed on the way.
    """
    size = part.stat().st_size
    problem = None
    digest = None
    if expected.size is not None and size != expected.size:
        problem = f"size {size} bytes, expected {expected.size}"
    else:
        sha = want_sha or expected.sha256
        if sha is not None:
            digest = sha256_file(part)
            if digest != sha:
                problem = f"sha256 {digest[:12]}…, expected {sha[:12]}…"
        elif expected.git_sha1 is not None:
            got = git_blob_sha1(part)
            if got != expected.git_sha1:
                problem = f"git sha1 {got[:12]}…, expected {expected.git_sha1[:12]}…"
        else:
            log.warning("no published checksum for %s; kept after a size check only", label)
    if problem:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"downloaded {label} is corrupt ({problem}); it was deleted, try again")
    return digest


# -- model files -------------------------------------------------------------------------------


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # only an empty folder goes (a .part to resume keeps it)


def download_model(entry: CatalogEntry, progress: ProgressCallback | None = None, **kwargs: Any) -> Path:
    """Fetch a catalogued model's weights (and tokenizer files) into the cache; return the weights path.

    Weights candidates are tried in order (safetensors first); a 404 moves to the next. Files already
    in the cache are not fetched again. Of the tokenizer files the first is required; the others are
    fetched when the repository has them (a 404 is remembered in a ``<file>.absent`` marker, and any
    other failure only logged). ``kwargs`` go to :func:`download_file`.
    """
    folder = model_dir(entry.arch, entry.pretrained)
    weights = cached_weights(entry.arch, entry.pretrained)
    if weights is None:
        try:
            weights = _download_weights(entry, folder, progress, kwargs)
        except DownloadError:
            _remove_if_empty(folder)  # offline at once: no empty model folder left behind
            raise
    repo = entry.tokenizer_repo or entry.hf_repo
    for i, filename in enumerate(entry.tokenizer_files):
        target = folder / filename
        absent = target.with_name(filename + ".absent")
        if target.is_file() or (i > 0 and absent.is_file()):
            continue
        try:
            download_file(hub_file_url(repo, filename, entry.revision), target, **kwargs)
        except NotFound:
            if i == 0:
                raise
            absent.touch()
        except DownloadError as exc:
            if i == 0:
                raise
            log.warning("optional tokenizer file %s not fetched: %s", filename, exc)
    return weights


def _download_weights(
    entry: CatalogEntry, folder: Path, progress: ProgressCallback | None, kwargs: dict[str, Any]
) -> Path:
    missing: list[str] = []
    candidate: WeightsFile
    for candidate in entry.weights:
        url = hub_file_url(entry.hf_repo, candidate.filename, entry.revision)
        try:
            return download_file(
                url, folder / candidate.filename, sha256=candidate.sha256, progress=progress, **kwargs
            )
        except NotFound:
            missing.append(candidate.filename)
    raise NotFound(f"{entry.hf_repo} has none of {', '.join(missing)} (HTTP 404)")
