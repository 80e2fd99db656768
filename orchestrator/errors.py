"""Typed errors raised inside; the CLI edge turns each into one line (or a catalog failure) and an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from states.catalog import ExitCode, Failure

if TYPE_CHECKING:  # pathlib is not on the `--help` path
    from pathlib import Path


class SpecKittyError(Exception):
    """An operator-facing problem with a one-line explanation (printed as ``Error: <line>``)."""

    exit_code: ExitCode = ExitCode.FAILURE
    code: str = "error"  # the stable `error` value of a `--json` error object


class ConfigError(SpecKittyError):
    """A config value or file is invalid."""

    code = "config_error"


class MissionError(SpecKittyError):
    """A mission, work package or lane argument does not exist or is malformed."""

    code = "mission_error"


class UsageProblem(SpecKittyError):
    """Arguments that cannot go together (e.g. ``--force`` without ``--reason``): exit 2, like click's."""

    exit_code = ExitCode.USAGE
    code = "usage"


class MissionChoiceError(MissionError):
    """No single mission is named: an unknown or ambiguous handle, or several missions and no ``--mission``.

    A usage error (exit 2, like click's); ``folders`` are the candidates the operator can choose from.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, code: str, text: str, headline: str, folders: list[Path]) -> None:
        super().__init__(text)
        self.code = code
        self.headline = headline
        self.folders = folders


class CatalogFailure(SpecKittyError):
    """A failure whose wording lives in the catalog (message, blank line, next action on stdout)."""

    def __init__(self, failure: Failure, code: str = "error") -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.exit_code = failure.exit_code
        self.code = code  # a readiness failure: the machine's state in lower case (``unauthed``, ...)


class DiskFull(SpecKittyError, OSError):
    """A file could not be written whole because its file system is full (or over quota): one line naming
    it. Also an ``OSError``, so a writer whose failure is harmless (a cache) keeps ignoring it as before."""

    code = "disk_full"

    def __init__(self, path: Path) -> None:
        import errno

        from states.catalog import DISK_FULL

        super().__init__(DISK_FULL.format(path=path))
        self.errno = errno.ENOSPC


class LockBusy(SpecKittyError, OSError):
    """An inter-process lock still held by another process after a bounded wait: one line naming the lock
    file and, when the OS tells, the holder's pid (what to wait for, or end)."""

    code = "lock_busy"

    def __init__(self, path: Path, seconds: float) -> None:
        import errno

        from states import catalog

        try:
            from orchestrator.daemon.lock import UNKNOWN_HOLDER, lock_holder

            pid = lock_holder(path)
        except Exception:  # noqa: BLE001 - naming the holder is a courtesy: never let it hide the busy lock
            pid = None
        holder = (catalog.LOCK_HOLDER_PID.format(pid=pid) if pid not in (None, UNKNOWN_HOLDER)
                  else catalog.LOCK_HOLDER_UNKNOWN)
        super().__init__(catalog.LOCK_BUSY.format(path=path, holder=holder, seconds=seconds))
        self.errno = errno.EAGAIN
