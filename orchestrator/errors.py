"""Typed errors raised inside; the CLI edge turns each into one line (or a catalog failure) and an exit code."""

from __future__ import annotations

from states.catalog import ExitCode, Failure


class SpecKittyError(Exception):
    """An operator-facing problem with a one-line explanation (printed as ``Error: <line>``)."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(SpecKittyError):
    """A config value or file is invalid."""


class MissionError(SpecKittyError):
    """A mission, work package or lane argument does not exist or is malformed."""


class CatalogFailure(SpecKittyError):
    """A failure whose wording lives in the catalog (message, blank line, next action on stdout)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.exit_code = failure.exit_code
