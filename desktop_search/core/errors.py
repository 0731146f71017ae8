"""Exceptions with messages meant for the user; import-light (nothing but the standard library),
so the start-up path can catch them without loading the engine."""


class UserError(Exception):
    """An expected failure with a one-line message for the user (exit code 1 on the CLI)."""


class LibraryWriteError(UserError):
    """The library's own folder or disk cannot be written (full, read-only, failing): the job stops
    with one message, and no photo is blamed for it."""


class ModelUnavailable(RuntimeError):
    """A model cannot be loaded (not downloaded and offline, bad weights, unknown name)."""


def _sqlite_error(exc: BaseException) -> BaseException | None:
    """The sqlite3 error behind ``exc`` (SQLAlchemy keeps it as ``orig``), if any."""
    import sqlite3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError):
            return current
        orig = getattr(current, "orig", None)
        if isinstance(orig, sqlite3.DatabaseError):
            return orig
        current = current.__cause__ or current.__context__
    return None


def describe_database_error(
    exc: BaseException, library: object = None, rebuild: str = "run 'desktop-search index'"
) -> str | None:
    """One line for the user when ``exc`` comes from a library database that cannot be used
    (damaged, read-only, on a full or failing disk); None for anything else (a bug: let it raise).
    ``library``: the library folder, named in the message when given; ``rebuild``: how to rebuild."""
    import sqlite3

    at = f" {library}" if library else ""
    in_ = f" in {library}" if library else ""

    err = _sqlite_error(exc)
    if err is None or isinstance(err, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"cannot write to the library{at}: it is read-only ({text}); check the folder's permissions"
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return (f"the library database{in_} is damaged ({text}); move library.db away and {rebuild} "
                "to rebuild the index (your photos are not touched)")
    if "disk is full" in lowered or "disk i/o" in lowered:
        return f"cannot write to the library{at}: {text}; free some disk space and try again"
    if "locked" in lowered or "busy" in lowered:
        return f"the library{at} is busy in another program ({text}); try again when it is done"
    if "unable to open" in lowered:
        return f"cannot open the library database{in_} ({text}); check that the folder is writable"
    return f"the library database{in_} cannot be used: {text}"
