"""The daemon's rotating log, private across rotation: every file it opens is born 0600 and a symlink
planted at its path is never followed (the stdlib handler opens rotated files with the umask's mode)."""

from __future__ import annotations

import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler

FLAGS = os.O_CREAT | os.O_APPEND | os.O_WRONLY | os.O_NOFOLLOW


class PrivateRotatingFileHandler(RotatingFileHandler):
    """``RotatingFileHandler`` whose every (re)open is ``O_NOFOLLOW`` and 0600, also after a rollover."""

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, FLAGS, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an older version may be wider
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)
