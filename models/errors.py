"""The errors lcad raises for bad input and bad bundles."""

from __future__ import annotations

from pathlib import Path


class LcadError(Exception):
    """Base class: every error lcad raises on purpose."""


class LightCurveError(LcadError, ValueError):
    """A light curve that cannot be used (empty, all NaN, too short, mismatched arrays)."""

    def __init__(self, message: str, *, object_id: str | None = None, field: str | None = None):
        self.object_id = object_id
        self.field = field
        prefix = f"light curve {object_id!r}: " if object_id is not None else ""
        super().__init__(prefix + message)
        self.message = message


class ConfigError(LcadError, ValueError):
    """A configuration that cannot be used (unknown key, bad value, incompatible choices)."""


class BundleError(LcadError):
    """A saved model bundle that is missing, corrupt or incompatible."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataError(LcadError, ValueError):
    """A table or file that cannot be read as light curves; the message names its source."""


class FitWarning(UserWarning):
    """Training went on with a fallback (named in the message) instead of failing."""


class FitNote(FitWarning):
    """Training chose something from the data that the user should hear of (not a fallback):
    the CLI prints it as a note."""
