"""The `serve` process as an operator and the test harness see it: announce, stop, crash, restart."""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from devsaas_helpers import envelope, http, post_batch

from devsaas.cli import main
from devsaas.store import Store
from devsaas.testing import DevSaas, DevSaasError, start_dev_saas

pytestmark = pytest.mark.e2e


def test_announces_the_bound_loopback_url_first(saas: DevSaas) -> None:
    assert saas.port > 0
    assert saas.url == f"http://127.0.0.1:{saas.port}"
    assert saas.health() == {"status": "ok", "service": "spec-kitty-dev-saas", "version": "0.1.0"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_signal_and_removes_its_temp_db(sig: signal.Signals, tmp_path: Path) -> None:
    """Without --db the server owns a temp dir and removes it on a clean stop."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsaas.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("spec-kitty dev SaaS listening on http://127.0.0.1:")
        assert len(list(tmp_path.iterdir())) == 1
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_restart_after_kill_9_keeps_data_and_port(tmp_path: Path) -> None:
    db = tmp_path / "state" / "saas.sqlite3"
    with start_dev_saas(db=db) as server:
        token = server.issue_token(login="carol")
        confirm = {"provider": "github", "candidate_token": "ct_" + b"dev-saas/issues".hex(),
                   "project_identity": {"uuid": "9d7c5b3a-1e2f-4a6b-8c9d-0e1f2a3b4c5d", "slug": "p"}}
        assert http(server, "POST", "/api/v1/tracker/bind-confirm/", confirm, token=token,
                    headers={"X-Team-Slug": "dev-team", "Idempotency-Key": "k1"}).status == 200
        project = str(uuid.uuid4())
        sent = [envelope(project, aggregate_id=f"WP{i % 12 + 1:02d}") for i in range(300)]
        answer = post_batch(server, token, sent).json
        assert {result["status"] for result in answer["results"]} == {"success"}
        server.set_issue_lane("p", "m", "WP01", "blocked")
        port, old_pid = server.port, server.pid

        assert server.kill() == -signal.SIGKILL
        server.restart()

        assert (server.port, server.db) == (port, db)
        assert server.pid != old_pid
        assert server.envelopes(project_uuid=project) == sent
        assert server.issues("p", "m")["WP01"]["lane"] == "blocked"
        assert http(server, "GET", "/api/v1/me", token=token).json["name"] == "carol"
        assert post_batch(server, token, sent[:1]).json["results"][0]["status"] == "duplicate"
        assert server.stop() == 0
    assert db.exists()  # a db we passed in is ours, not the handle's
    assert oct(db.stat().st_mode & 0o777) == "0o600"


def test_a_database_from_before_the_protocol_switch_opens_without_the_old_upload_table(tmp_path: Path) -> None:
    db = tmp_path / "saas.sqlite3"
    with sqlite3.connect(db) as old:
        old.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, project TEXT, mission TEXT, event_id TEXT,"
                    " body TEXT, received_at REAL)")
        old.execute("INSERT INTO events (project, mission, event_id, body, received_at) VALUES ('p', 'm', 'e', '', 0)")
        old.execute("PRAGMA user_version=1")
    old.close()
    store = Store(db)
    store.close()
    with sqlite3.connect(db) as reopened:
        tables = {name for (name,) in reopened.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        (version,) = reopened.execute("PRAGMA user_version").fetchone()
    reopened.close()
    assert "events" not in tables
    assert "envelopes" in tables
    assert version == 2


def test_a_dropped_handle_leaks_neither_process_nor_files() -> None:
    """Callers that only `stop()` (or forget the handle) still get cleaned up by the finalizer."""
    server = start_dev_saas()
    pid, workdir = server.pid, server.db.parent
    del server
    gc.collect()
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_start_that_fails_reports_the_servers_stderr(saas: DevSaas) -> None:
    with pytest.raises(DevSaasError, match=r"exited before announcing its URL(.|\n)*cannot serve on"):
        start_dev_saas(port=saas.port)


def test_admin_helpers_raise_on_unexpected_answers(saas: DevSaas) -> None:
    with pytest.raises(DevSaasError, match="404"):
        saas.set_issue_lane("never-bound", "m", "WP01", "done")


def test_testing_module_imports_no_network_stack() -> None:
    """The pytest plugin imports it in every run; aiohttp/asyncio/socket must stay out."""
    code = (
        "import sys, json, devsaas.testing;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'aiohttp', 'asyncio', 'socket', 'ssl', 'urllib', 'http', 'click'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["urllib", "urllib.parse"]


def test_cli_help_does_not_import_aiohttp() -> None:
    code = (
        "import sys; from devsaas.cli import main\n"
        "try: main(['serve', '--help'])\n"
        "except SystemExit: pass\n"
        "print('aiohttp' in sys.modules, 'asyncio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False False"


def test_demo_without_its_module_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "devsaas.demo", None)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 1
    assert result.output == "Error: the demo is not available in this build\n"
