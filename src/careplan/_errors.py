"""The careplan error hierarchy.

Each error also subclasses the matching built-in, so callers may catch either
``CareplanError`` or, say, ``ValueError``. Messages say what was expected, what
arrived, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "CareplanError",
    "CareplanWarning",
    "DuplicateIdError",
    "EmptyInputError",
    "InfeasibleError",
    "InputDataError",
    "MissingColumnError",
    "NetworkError",
    "SettingsError",
    "UnreadableFileError",
]


class CareplanError(Exception):
    """Base class for all careplan errors."""


class InputDataError(CareplanError, ValueError):
    """An input file or layer violates the data contract."""


class UnreadableFileError(InputDataError):
    """A file cannot be read at all (wrong format, HTML page, unknown encoding)."""


class EmptyInputError(InputDataError):
    """A file or layer has no data rows."""


class MissingColumnError(InputDataError):
    """A required column is absent (not KeyError: ``str(KeyError)`` adds quotes)."""


class DuplicateIdError(InputDataError):
    """Ids that must be unique are repeated."""


class CRSError(InputDataError):
    """A layer has no CRS, a wrong CRS, or coordinates that fit no known CRS."""


class SettingsError(CareplanError, ValueError):
    """A bad scenario file, setting or command-line option."""


class NetworkError(CareplanError, RuntimeError):
    """A walk network cannot be built, loaded or used."""


class InfeasibleError(CareplanError, RuntimeError):
    """A siting model has no feasible solution."""


class CareplanWarning(UserWarning):
    """Something was recovered from; the message says what was done."""
