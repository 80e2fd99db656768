"""Issue 10, "files and errors": the daemon log stays 0600 across rotation and never follows a planted
symlink; the queue refuses a planted symlink and names its file; a failed transaction reports the real
error, not sqlite's "cannot rollback"."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from orchestrator.daemon.logfile import PrivateRotatingFileHandler
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.store import QueueError, transaction


def test_the_daemon_log_is_0600_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "sync-daemon.log"
    old = os.umask(0o022)
    try:
        handler = PrivateRotatingFileHandler(path, maxBytes=200, backupCount=2, encoding="utf-8")
        logger = logging.Logger("rotation-test")
        logger.addHandler(handler)
        for n in range(50):
            logger.warning("line %d %s", n, "x" * 40)
        handler.close()
    finally:
        os.umask(old)
    files = sorted(tmp_path.glob("sync-daemon.log*"))
    assert [p.name for p in files] == ["sync-daemon.log", "sync-daemon.log.1", "sync-daemon.log.2"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_the_daemon_log_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "sync-daemon.log").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        PrivateRotatingFileHandler(tmp_path / "sync-daemon.log", maxBytes=200, backupCount=2)
    assert target.read_text() == ""


def test_a_queue_planted_as_a_symlink_is_refused_naming_the_file(tmp_path: Path) -> None:
    real = tmp_path / "real.sqlite3"
    EventQueue(real).enqueue("k", [{"event_id": "01A"}])
    link = tmp_path / "sync-queue.sqlite3"
    link.symlink_to(real)
    with pytest.raises(QueueError) as caught, EventQueue(link) as queue:
        queue.count("k")
    assert str(caught.value) == (
        f"The sync queue `{link}` cannot be used (it is a symlink or not owned by you). "
        "Make it a regular file and folder owned and writable by you, then retry.")


def test_a_corrupt_queue_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sync-queue.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(QueueError) as caught, EventQueue(path) as queue:
        queue.enqueue("k", [{"event_id": "01A"}])
    assert str(caught.value).startswith(f"The sync queue `{path}` cannot be used (file is not a database). Move")


def test_a_failed_transaction_reports_the_real_error() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)

    def failing() -> None:
        with transaction(db):
            db.execute("ROLLBACK")  # as sqlite does by itself on a full disk
            raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        failing()
