"""The command line: the same core as the window, headless.

Every subcommand lives in ``desktop_search/commands/NAME.py`` (``add_parser(subparsers)`` and
``run(args)``) and takes ``--library DIR`` (``commands.common.add_library_option``), also given
before the command. Expected failures print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .commands.common import CliError, add_library_option
from .core.wording import shown

#: subcommands that live in their own modules (desktop_search/commands/NAME.py)
COMMAND_MODULES = ("index", "search", "status", "folders", "gui", "watch", "train", "train_concepts", "train_multilingual", "evaluate", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-search",
        description="Find photos in your own library by meaning. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--self-test", action="store_true", help="index a few generated images and search them (packaging check)")
    add_library_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ImportError as exc:
            if f"commands.{name}" not in str(exc) and name not in str(exc):
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from .core.errors import ModelUnavailable, UserError, describe_database_error

    try:
        if args.self_test:
            from .selftest import run_self_test

            return run_self_test()
        if args.command is None:
            gui = importlib.import_module(".commands.gui", __package__)
            return int(gui.run(args))
        return int(args.func(args))
    except (UserError, CliError, ModelUnavailable) as exc:
        print(f"desktop-search: {shown(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        from .core import paths

        message = describe_database_error(exc, getattr(args, "library", None) or paths.default_library_dir())
        if message is None:
            raise
        logging.getLogger(__name__).debug("database error", exc_info=True)
        print(f"desktop-search: {shown(message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("desktop-search: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


