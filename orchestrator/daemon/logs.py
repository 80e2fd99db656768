"""The daemon's log: a rotating file, because a detached daemon's stdout and stderr are /dev/null."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from orchestrator.home import paths

log = logging.getLogger("spec_kitty.daemon")


def setup_logging() -> None:
    """Rotating log file, 0600 and never through a planted symlink (after a rollover too); uncaught
    exceptions in any thread land in it as well."""
    from orchestrator.daemon.logfile import PrivateRotatingFileHandler

    log_file = paths.daemon_log_file()
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = PrivateRotatingFileHandler(log_file, maxBytes=512 * 1024, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)

    def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.critical("daemon crashed", exc_info=(kind, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            log.error("thread %s crashed", args.thread, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
