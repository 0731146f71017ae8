"""The watched folders in the database: list, add, change exclusions, remove, and their problems.

Folders may nest: a photo belongs to the deepest watched folder holding it. Folder ranges are
always ``scanner.below_bounds`` (:func:`below`), never ``LIKE``. The caller (``PhotoLibrary``)
checks that the library is writable and holds its writer lock around every change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, and_, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..db import Folder, Photo, PhotoStatus, Problem
from ..errors import UserError
from ..indexing import FolderSpec
from ..indexing.photo import drop_unused_thumbnails
from ..types import ErrorInfo, FolderInfo
from .scanner import below_bounds, clean_exclusion, is_below, normalise


class Folders:
    def __init__(self, engine: Engine, thumbnails_dir: Path) -> None:
        self.engine = engine
        self.thumbnails_dir = thumbnails_dir

    def all(self) -> list[FolderInfo]:
        with Session(self.engine) as s:
            folders = s.scalars(select(Folder).order_by(Folder.path)).all()
            counts = {
                (r[0], r[1]): r[2]
                for r in s.execute(
                    select(Photo.folder_id, Photo.status, func.count()).group_by(Photo.folder_id, Photo.status)
                )
            }
            out = []
            for f in folders:
                photos = sum(v for (fid, _), v in counts.items() if fid == f.id)
                out.append(
                    FolderInfo(
                        path=f.path,
                        exclusions=tuple(json.loads(f.exclusions or "[]")),
                        photos=photos,
                        pending=counts.get((f.id, PhotoStatus.PENDING), 0),
                        errors=counts.get((f.id, PhotoStatus.ERROR), 0),
                    )
                )
            return out

    def specs(self, only: Iterable[str] | None = None) -> list[FolderSpec]:
        """What the indexing job needs of the watched folders (all, or those given)."""
        wanted = {normalise(p) for p in only} if only else None
        with Session(self.engine) as s:
            rows = s.scalars(select(Folder).order_by(Folder.path)).all()
            specs = [FolderSpec(f.id, f.path, tuple(json.loads(f.exclusions or "[]"))) for f in rows]
        if wanted is not None:
            specs = [f for f in specs if f.path in wanted]
        return specs

    def add(self, path: str | Path, exclusions: Iterable[str] = ()) -> FolderInfo:
        """Watch ``path`` (or set its exclusions, when given, if it is watched already). Raises
        UserError for a folder reached only through a link to a watched one."""
        norm = normalise(path)
        excl = _exclusions_json(exclusions)
        with Session(self.engine) as s, s.begin():
            existing = s.scalar(select(Folder).where(Folder.path == norm))
            if existing is None:
                _refuse_a_second_way_in(norm, list(s.scalars(select(Folder.path))))
                folder = Folder(path=norm, exclusions=excl)
                s.add(folder)
                s.flush()
                # a photo belongs to the deepest watched folder holding it: the new folder takes
                # over the photos below it that a watched folder above it had
                above = [f.id for f in s.scalars(select(Folder)) if f.id != folder.id and is_below(norm, f.path)]
                if above:
                    s.execute(
                        update(Photo)
                        .where(Photo.folder_id.in_(above), *below(Photo.path, norm))
                        .values(folder_id=folder.id)
                    )
            elif exclusions:
                existing.exclusions = excl
        return next(f for f in self.all() if f.path == norm)

    def set_exclusions(self, path: str | Path, exclusions: Iterable[str]) -> None:
        norm = normalise(path)
        with Session(self.engine) as s, s.begin():
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            folder.exclusions = _exclusions_json(exclusions)

    def remove(self, path: str | Path) -> list[int]:
        """Stop watching a folder: its photos leave the library (with their vectors, thumbnails
        and scan problems), except those inside another watched folder, which that folder keeps.
        Returns the ids of the photos that left."""
        norm = normalise(path)
        with Session(self.engine) as s:
            folder = s.scalar(select(Folder).where(Folder.path == norm))
            if folder is None:
                raise UserError(f"not a watched folder: {path}")
            others = [f for f in s.scalars(select(Folder)) if f.id != folder.id]
            # photos inside a remaining watched folder move to the deepest one (deepest first)
            keepers = sorted(
                (f for f in others if is_below(f.path, norm) or is_below(norm, f.path)),
                key=lambda f: len(f.path),
                reverse=True,
            )
            for keeper in keepers:
                s.execute(
                    update(Photo)
                    .where(Photo.folder_id == folder.id, *below(Photo.path, keeper.path))
                    .values(folder_id=keeper.id)
                )
            rows = s.execute(select(Photo.id, Photo.content_hash).where(Photo.folder_id == folder.id)).all()
            ids = [r[0] for r in rows]
            s.execute(delete(Folder).where(Folder.id == folder.id))  # its photos and vectors cascade
            if not any(is_below(norm, f.path) for f in others):  # problems no other folder still covers
                inner = tuple(f.path.rstrip("/") + "/" for f in others if is_below(f.path, norm))
                under = select(Problem.path).where((Problem.path == norm) | and_(*below(Problem.path, norm)))
                stale = [p for p in s.scalars(under) if not (inner and p.startswith(inner))]
                for i in range(0, len(stale), 500):
                    s.execute(delete(Problem).where(Problem.path.in_(stale[i : i + 500])))
            s.commit()
        drop_unused_thumbnails(self.engine, self.thumbnails_dir, [r[1] for r in rows])
        return ids

    def errors(self, folder: str | None = None) -> list[ErrorInfo]:
        """Photos that could not be read and scan problems (all, or below ``folder``), by path."""
        with Session(self.engine) as s:
            stmt = select(Photo.path, Photo.error, Photo.updated_at).where(Photo.status == PhotoStatus.ERROR)
            pstmt = select(Problem.path, Problem.reason, Problem.when)
            if folder:
                prefix = normalise(folder).rstrip("/")
                stmt = stmt.where(*below(Photo.path, prefix))
                pstmt = pstmt.where((Problem.path == prefix) | and_(*below(Problem.path, prefix)))
            rows = list(s.execute(stmt)) + list(s.execute(pstmt))
        return sorted((ErrorInfo(r[0], r[1] or "unknown error", r[2]) for r in rows), key=lambda e: e.path)


def below(column: InstrumentedAttribute[str], root: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """``column`` (a path) strictly inside ``root``, as a range on its index (``below_bounds``)."""
    low, high = below_bounds(root)
    return column > low, column < high


def _refuse_a_second_way_in(path: str, watched: list[str]) -> None:
    """A folder that is, holds or lies inside a watched folder only through a link would index the
    same photos twice under two names: say which folder it is instead (plain nesting is fine)."""
    real = os.path.realpath(path)
    for other in watched:
        other_real = os.path.realpath(other)
        if real == other_real:
            raise UserError(f"{path} is the watched folder {other} (through a link)")
        nested_really = is_below(real, other_real) or is_below(other_real, real)
        if nested_really and not (is_below(path, other) or is_below(other, path)):
            raise UserError(f"{path} and the watched folder {other} hold the same photos (through a link)")


def _exclusions_json(exclusions: Iterable[str]) -> str:
    """A folder's exclusions as stored: cleaned (see ``scanner.clean_exclusion``), sorted, unique."""
    return json.dumps(sorted({c for c in (clean_exclusion(str(e)) for e in exclusions) if c}))
