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

    Written whole or not at all: every byte goes out through a loop that checks what each ``write``
    took (a full disk answers a short write first, ENOSPC only on the next), the file is renamed into
    place only after that, and on any failure the temp file is removed. A full file system (or quota)
    raises ``DiskFull`` naming ``path``, the file the operator knows, never the temp file's name.
    """
    import tempfile  # only writers pay for it (it pulls in shutil, random, ...)

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _full_or(exc, path) from None
    try:
        try:
            if mode != 0o600:
                os.fchmod(fd, mode)
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _full_or(exc, path) from None
        raise


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` or raise: ``os.write`` may take fewer bytes than given (a
    full disk does that before it fails), and a short write left unnoticed is a torn file."""
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - a regular file answers short or raises, never 0 for >0 bytes
            import errno

            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _full_or(exc: OSError, path: Path) -> OSError:
    """``DiskFull`` naming ``path`` for a full file system or quota, else the error itself."""
    import errno

    from orchestrator.errors import DiskFull

    if isinstance(exc, DiskFull) or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return exc
    return DiskFull(path)


SMALL_FILE_MAX = 1 << 20  # auth.json, config.toml, state files: a few KiB; anything bigger is not ours


class FileRefused(OSError):
    """A small file the tool reads (auth.json, config.toml, ...) is a symlink, a FIFO, a device, a folder
    or bigger than ``SMALL_FILE_MAX``: it is never read (a FIFO would hang the open, /dev/zero would fill
    memory); ``line`` is the one warning that says so."""

    def __init__(self, path: Path) -> None:
        import errno

        from states.catalog import FILE_REFUSED

        super().__init__(errno.EINVAL, "not a small regular file", os.fspath(path))
        self.line = FILE_REFUSED.format(path=path)


def read_small(path: Path, limit: int = SMALL_FILE_MAX) -> bytes:
    """The bytes of ``path`` when it is a regular file (not a link) of at most ``limit`` bytes.

    Opened without following a link and without blocking (a FIFO answers the open at once), then
    ``fstat`` of the opened file decides, so nothing swapped in between a look and the open is read;
    at most ``limit + 1`` bytes are read even if the file grows meanwhile. ``FileNotFoundError`` (and
    other plain OS errors) pass through; anything hostile raises ``FileRefused``."""
    import errno
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileRefused(path) from None
        raise
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_size > limit:
            raise FileRefused(path)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(path)
        return b"".join(chunks)
    finally:
        os.close(fd)


@contextlib.contextmanager
def interprocess_lock(path: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold a fasteners inter-process lock on ``path`` (the OS frees it if we die).

    With ``timeout``, wait at most that many seconds, then raise ``LockBusy`` naming the holder: a
    process stopped while holding the lock must not hang every other command behind it."""
    import fasteners

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = fasteners.InterProcessLock(str(path))
    if not lock.acquire(timeout=timeout):
        from orchestrator.errors import LockBusy

        raise LockBusy(path, timeout or 0)
    try:
        yield
    finally:
        lock.release()

