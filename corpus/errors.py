"""Failures of one row, with a short stable error_kind that manifests and reports group by."""

from __future__ import annotations

# Kinds worth trying again later: the same request may well succeed then.
TRANSIENT_KINDS = frozenset({"timeout", "http_5xx", "rate_limited", "network", "truncated"})


class StepError(Exception):
    """A row (or every row of a fetched file) failed; `kind` goes to error_kind."""

    def __init__(self, kind: str, message: str, *, skipped: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.skipped = skipped  # skipped (by rule) rather than failed (by accident)

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


class InputError(Exception):
    """The input as a whole cannot be used (missing columns, unreadable file): raised before
    any work starts, with a message saying what was expected."""
