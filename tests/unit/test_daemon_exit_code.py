"""Issue 16 item 10: a crashed daemon exits non-zero, even with a worker thread still running.

Given a daemon whose serving fails while a (non-daemon) upload thread is still alive, when it exits, then
its exit status is 1: the ``os._exit`` that ends the process past that thread used to say 0.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CRASH = textwrap.dedent("""
    import sys, threading
    from orchestrator.home import paths
    from orchestrator.daemon import server
    from orchestrator.daemon.lock import DaemonLock

    release = threading.Event()

    async def crash(self):
        threading.Thread(target=release.wait, daemon=False).start()  # an upload still on the wire
        raise RuntimeError("boom")

    server.Daemon.serve = crash  # the failure injected; everything around it is the real exit path
    lock = DaemonLock(paths.daemon_lock_file())
    assert lock.try_acquire()
    sys.exit(server.run(lock))
""")


def test_a_daemon_that_crashes_with_a_thread_alive_exits_1(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    ran = subprocess.run([sys.executable, "-c", CRASH], env={"SPEC_KITTY_HOME": str(home), "PATH": "/usr/bin"},
                         capture_output=True, timeout=60)
    assert ran.returncode == 1, ran.stderr.decode()
    assert "daemon failed" in (home / "sync-daemon.log").read_text()
