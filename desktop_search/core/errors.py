"""Exceptions with messages meant for the user; import-light (nothing but the standard library),
so the start-up path can catch them without loading the engine."""


class UserError(Exception):
    """An expected failure with a one-line message for the user (exit code 1 on the CLI)."""


class ModelUnavailable(RuntimeError):
    """A model cannot be loaded (not downloaded and offline, bad weights, unknown name)."""
