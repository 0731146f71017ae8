"""Change bookkeeping: compare what is on disk with what the library knows.

Unchanged files (same path, size and mtime) cost nothing; a new path whose content hash matches a
photo that has vanished is a move and keeps its vectors; vanished photos are removed; changed
contents are embedded again. A photo whose sidecar caption file (``NAME.txt``, ``NAME.ext.txt``)
appeared, changed or vanished has its caption read again (text only: its image vectors stay).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from ..db import Folder, Photo, PhotoStatus, Problem, Vector
from ..db.pathtext import from_db, to_db
from ..library.metadata import photo_text, read_caption
from ..library.scanner import FoundFile, ScanProblem, below_bounds, content_hash
from ..types import IndexCounts

CHUNK = 500


@dataclass
class KnownPhoto:
    id: int
    path: str
    folder_id: int
    size: int
    mtime: float
    content_hash: str
    caption: str | None
    #: the sidecar caption file as last seen (``scanner.sidecar_stamp``)
    sidecar: str | None = None


@dataclass
class Reconciliation:
    """What a scan changed; ids of photos whose vectors must leave or be re-keyed in memory."""

    counts: IndexCounts = field(default_factory=IndexCounts)
    removed_ids: list[int] = field(default_factory=list)
    moved_ids: list[int] = field(default_factory=list)
    stale_ids: list[int] = field(default_factory=list)
    #: content hashes that removed or changed photos had (their thumbnails may now be unused)
    dropped_hashes: list[str] = field(default_factory=list)
    #: files found that could not be read (permission denied, an I/O error): kept as they were
    problems: list[ScanProblem] = field(default_factory=list)
    #: photos whose caption was read again (their sidecar caption file changed)
    recaptioned_ids: list[int] = field(default_factory=list)


def _unreadable(path: str, exc: OSError, result: Reconciliation) -> None:
    """A found file that cannot be read: a problem to report, unless it has merely vanished."""
    if isinstance(exc, FileNotFoundError):
        return
    reason = "permission denied" if isinstance(exc, PermissionError) else f"cannot be read: {exc.strerror or exc}"
    result.problems.append(ScanProblem(path, reason))


def load_known(
    engine: Engine, folder_ids: list[int] | None = None, paths: list[str] | None = None, under: list[str] | None = None
) -> list[KnownPhoto]:
    """The library's photos: of ``folder_ids`` (all: None) and, with them, every photo below the
    folders ``under`` whatever folder it belongs to; or (``paths``) those at or below these paths."""
    if paths is None:
        return _load_all_known(engine, folder_ids, under or ())
    cols = (Photo.id, Photo.path, Photo.folder_id, Photo.size, Photo.mtime, Photo.content_hash, Photo.caption, Photo.sidecar)
    out: list[KnownPhoto] = []
    with Session(engine) as s:
        for i in range(0, len(paths), CHUNK):
            chunk = paths[i : i + CHUNK]
            out.extend(KnownPhoto(*row) for row in s.execute(select(*cols).where(Photo.path.in_(chunk))))
            for prefix in chunk:  # a vanished folder: everything below it
                if not os.path.exists(prefix):  # a range on the path index: no LIKE wildcards, case kept
                    low, high = below_bounds(prefix)
                    out.extend(KnownPhoto(*row) for row in s.execute(select(*cols).where(Photo.path > low, Photo.path < high)))
    unique = {k.id: k for k in out}
    return list(unique.values())


def _load_all_known(engine: Engine, folder_ids: list[int] | None, under: Sequence[str] = ()) -> list[KnownPhoto]:
    """Every photo (of these folders, and below ``under``): a rescan reads them all, straight
    through the driver."""
    sql = "SELECT id, path, folder_id, size, mtime, content_hash, caption, sidecar FROM photos"
    params: tuple[int | str, ...] = ()
    if folder_ids is not None:
        clauses = []
        if folder_ids:
            clauses.append(f"folder_id IN ({','.join('?' * len(folder_ids))})")
            params += tuple(int(f) for f in folder_ids)
        for root in under:  # a range on the unique path index
            clauses.append("(path > ? AND path < ?)")
            params += tuple(to_db(b) for b in below_bounds(root))
        if not clauses:
            return []
        sql += " WHERE " + " OR ".join(clauses)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return [KnownPhoto(r[0], from_db(r[1]), *r[2:]) for r in cur.fetchall()]
        finally:
            cur.close()
    finally:
        raw.close()


def reconcile(
    engine: Engine,
    found: dict[str, tuple[FoundFile, int]],
    known: list[KnownPhoto],
    may_remove: set[int] | None,
    checkpoint=lambda: None,
    protected: tuple[str, ...] = (),
    remove_under: tuple[str, ...] = (),
) -> Reconciliation:
    """Bring the photos table in line with ``found``.

    ``may_remove``: folder ids whose scan completed: their known photos that the scan did not find
    (deleted, or now hidden or excluded) are removed, and so are known photos below the folders
    ``remove_under`` (prefixes ending in "/"). None: every known photo that was looked at and
    not found is removed (event-driven updates). Photos below ``protected`` folders (which could not
    be read this time) are kept. A found photo takes the folder ``found`` gives it. A new file with
    the contents of a photo whose file is gone is a move (even from a folder not scanned now).
    """
    result = Reconciliation()
    counts = result.counts
    by_path = {k.path: k for k in known}
    new_files: list[tuple[FoundFile, int]] = []
    #: (id, path, sidecar stamp) of photos whose caption must be read again
    recaption: list[tuple[int, str, str | None]] = []
    with Session(engine) as s:
        pending_updates = 0
        for path, (ff, folder_id) in found.items():
            row = by_path.get(path)
            if row is None:
                new_files.append((ff, folder_id))
                continue
            if row.folder_id != folder_id:  # a watched folder was added or removed above or below it
                s.execute(update(Photo).where(Photo.id == row.id).values(folder_id=folder_id))
                pending_updates += 1
            if row.size == ff.size and row.mtime == ff.mtime:
                _same_contents(row, ff, recaption, counts)
                continue
            try:
                digest = content_hash(path, ff.size)
            except OSError as exc:
                _unreadable(path, exc, result)
                continue
            if digest == row.content_hash:
                s.execute(update(Photo).where(Photo.id == row.id).values(mtime=ff.mtime, size=ff.size))
                _same_contents(row, ff, recaption, counts)
            else:
                s.execute(
                    update(Photo)
                    .where(Photo.id == row.id)
                    .values(size=ff.size, mtime=ff.mtime, content_hash=digest, status=PhotoStatus.PENDING, error=None,
                            thumbnail=None, sidecar=ff.sidecar)
                )
                s.execute(delete(Vector).where(Vector.photo_id == row.id))
                result.stale_ids.append(row.id)
                result.dropped_hashes.append(row.content_hash)
                counts.updated += 1
            pending_updates += 1
            if pending_updates >= CHUNK:
                s.commit()
                pending_updates = 0
                checkpoint()
        s.commit()
        if recaption:
            _recaption(s, recaption, result, checkpoint)

        guard = tuple(p.rstrip("/") + "/" for p in protected)
        exact = frozenset(protected)
        missing = [
            k
            for k in known
            if k.path not in found
            and (
                may_remove is None
                or k.folder_id in may_remove
                or (remove_under and k.path.startswith(remove_under))
            )
            and not (k.path in exact or k.path.startswith(guard))
        ]
        missing_by_hash: dict[str, list[KnownPhoto]] = defaultdict(list)
        for k in missing:
            missing_by_hash[k.content_hash].append(k)
        known_ids: set[int] | None = None
        moved: set[int] = set()
        moved_captions: list[tuple[int, str, str | None]] = []
        for start in range(0, len(new_files), CHUNK):
            hashed: list[tuple[FoundFile, int, str]] = []
            for ff, folder_id in new_files[start : start + CHUNK]:
                try:
                    hashed.append((ff, folder_id, content_hash(ff.path, ff.size)))
                except OSError as exc:
                    _unreadable(ff.path, exc, result)  # vanished since the walk: nothing to say
                    continue
            # contents no missing photo of this scan has: maybe moved here from a folder not scanned
            unmatched = [d for _, _, d in hashed if not missing_by_hash.get(d)]
            if unmatched:
                if known_ids is None:
                    known_ids = {k.id for k in known}
                for digest, rows in _gone_elsewhere(s, unmatched, (known_ids, moved), found).items():
                    missing_by_hash[digest].extend(rows)
            batch: list[dict] = []
            for ff, folder_id, digest in hashed:
                candidates = missing_by_hash.get(digest)
                if candidates:
                    old = candidates.pop()
                    moved.add(old.id)
                    name = Path(ff.path).name
                    s.execute(
                        update(Photo)
                        .where(Photo.id == old.id)
                        .values(path=ff.path, folder_id=folder_id, size=ff.size, mtime=ff.mtime, text=photo_text(old.caption, name))
                    )
                    if ff.sidecar != old.sidecar:  # moved away from its caption file, or to another
                        moved_captions.append((old.id, ff.path, ff.sidecar))
                    result.moved_ids.append(old.id)
                    counts.moved += 1
                else:
                    batch.append(
                        dict(
                            folder_id=folder_id,
                            path=ff.path,
                            size=ff.size,
                            mtime=ff.mtime,
                            content_hash=digest,
                            sidecar=ff.sidecar,
                            status=PhotoStatus.PENDING,
                            text=photo_text(None, Path(ff.path).name),
                            updated_at=datetime.now(),
                        )
                    )
                    counts.added += 1
            if batch:
                s.execute(insert(Photo), batch)
            s.commit()
            checkpoint()
        if moved_captions:
            _recaption(s, moved_captions, result, checkpoint)

        gone = [k.id for k in missing if k.id not in moved]
        for i in range(0, len(gone), CHUNK):
            s.execute(delete(Photo).where(Photo.id.in_(gone[i : i + CHUNK])))
        s.commit()
        result.removed_ids = gone
        result.dropped_hashes.extend(k.content_hash for k in missing if k.id not in moved)
        counts.removed = len(gone)
    return result


def _gone_elsewhere(
    s: Session, digests: list[str], skip: tuple[set[int], ...], found: dict[str, tuple[FoundFile, int]]
) -> dict[str, list[KnownPhoto]]:
    """Photos with these contents whose file is no longer on disk, in a folder that is (so the
    folder is not merely unplugged): the sources of moves into the folders being scanned."""
    out: dict[str, list[KnownPhoto]] = defaultdict(list)
    cols = (Photo.id, Photo.path, Photo.folder_id, Photo.size, Photo.mtime, Photo.content_hash, Photo.caption, Photo.sidecar)
    wanted = sorted(set(digests))
    for i in range(0, len(wanted), CHUNK):
        rows = s.execute(
            select(*cols, Folder.path).join(Folder, Folder.id == Photo.folder_id).where(Photo.content_hash.in_(wanted[i : i + CHUNK]))
        ).all()
        for row in rows:
            k = KnownPhoto(*row[:8])
            if any(k.id in ids for ids in skip) or k.path in found or os.path.lexists(k.path) or not os.path.isdir(row[8]):
                continue
            out[k.content_hash].append(k)
    return out


def _same_contents(row: KnownPhoto, ff: FoundFile, recaption: list[tuple[int, str, str | None]], counts: IndexCounts) -> None:
    """A photo found with the contents it had: unchanged, unless its caption file appeared, changed
    or vanished; then it counts as updated and its caption is read again (``recaption``), its image
    not (a photo read again in full reads its caption then)."""
    if row.sidecar != ff.sidecar:
        recaption.append((row.id, ff.path, ff.sidecar))
        counts.updated += 1
    else:
        counts.unchanged += 1


def _recaption(s: Session, items: list[tuple[int, str, str | None]], result: Reconciliation, checkpoint) -> None:
    """Read the caption of these photos again (their sidecar caption file changed) and store it,
    with the text it makes and the file's stamp; the indexer then embeds the changed texts alone
    (``Indexer._todo``). A few small files (and, for a caption file deleted, the photo's header)."""
    for start in range(0, len(items), CHUNK):
        for photo_id, path, stamp in items[start : start + CHUNK]:
            caption = read_caption(Path(path))
            s.execute(
                update(Photo)
                .where(Photo.id == photo_id)
                .values(caption=caption, text=photo_text(caption, Path(path).name), sidecar=stamp)
            )
            result.recaptioned_ids.append(photo_id)
        s.commit()
        checkpoint()


def record_problems(engine: Engine, problems: list[ScanProblem], scanned_roots: list[str]) -> int:
    """Store scan problems (unreadable folders); forget old ones under roots scanned cleanly.
    Returns how many are new."""
    new = 0
    with Session(engine) as s, s.begin():
        reported = {p.path for p in problems}
        for root in scanned_roots:
            prefix = root.rstrip("/")
            low, high = below_bounds(prefix)
            for old in s.scalars(select(Problem).where((Problem.path == prefix) | ((Problem.path > low) & (Problem.path < high)))):
                if old.path not in reported:
                    s.delete(old)
        for p in problems:
            existing = s.get(Problem, p.path)
            if existing is None:
                s.add(Problem(path=p.path, reason=p.reason))
                new += 1
            else:
                existing.reason = p.reason
    return new
