"""Crash-safe file writes: temp file in the same folder, fsync, ``os.replace``; secrets born 0600."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def atomic_write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` (UTF-8), durably: see ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_bytes(path: Path, data: bytes | memoryview, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half of one.

    The temp file is created with ``mode`` from the start (``mkstemp`` makes it 0600, then we widen
    if asked) so a secret is never briefly world-readable. ``durable=False`` skips the fsync, for a
    cache whose loss only costs a rebuild.
    """
    import tempfile  # only writers pay for it (it pulls in shutil, random, ...)

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def interprocess_lock(path: Path) -> Iterator[None]:
    """Hold a fasteners inter-process lock on ``path`` (the OS frees it if we die)."""
    import fasteners

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = fasteners.InterProcessLock(str(path))
    with lock:
        yield


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` or raise: ``os.write`` may write less than asked (a full disk, a file
    size limit), and a caller that ignored the count would leave half a line behind."""
    import errno

    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
