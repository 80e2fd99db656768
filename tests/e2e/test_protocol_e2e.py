"""The Spec Kitty SaaS protocol through the installed ``spec-kitty``, against the real dev SaaS on loopback.

Given an operator who logs in by the device flow (or with a token) and a repository with missions, when
they run ``sync run`` (no tracker binding needed), then every lane row reaches the host once as the
reference client's ``WPStatusChanged`` envelope, and each answer of the batch endpoint (rejected,
412, 5xx) ends as the protocol says: parked, stopped with guidance, or kept for the next run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import ok
from support.projects import git_init, transition, write_log
from support.shell import Shell

from devsaas.testing import DevSaas
from orchestrator.missions.ulid import new_ulid
from states import catalog

pytestmark = pytest.mark.e2e


def session_of(home: Path) -> dict[str, object]:
    (session,) = json.loads((home / "auth.json").read_text())["sessions"].values()
    return dict(session)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository with two missions, each with a few lane rows as spec-kitty writes them."""
    root = git_init(tmp_path / "two-missions")
    for slug in ("001-alpha", "002-beta"):
        folder = root / "kitty-specs" / slug
        folder.mkdir(parents=True)
        write_log(folder, [transition("WP01", "planned", from_lane="genesis", event_id=new_ulid(), slug=slug),
                           transition("WP01", "claimed", event_id=new_ulid(), slug=slug),
                           transition("WP02", "planned", from_lane="genesis", event_id=new_ulid(), slug=slug)])
    return root


def rows_of(root: Path, slug: str) -> list[dict[str, object]]:
    text = (root / "kitty-specs" / slug / "status.events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_device_login_keeps_what_the_host_gave_and_status_shows_email_and_team(operator: Shell, saas: DevSaas,
                                                                                  project: Path) -> None:
    ran = ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("To log in, open ")
    assert "user_code=" in lines[0]
    assert lines[1] == catalog.LOGIN_CODE_LIFETIME.format(minutes=10)
    session = session_of(operator.home)
    assert session["grant"] == "device"
    assert session["session_id"]
    assert session["refresh_token"]
    email = str(session["login"])
    private = [t for t in session["teams"] if t["is_private_teamspace"]]  # type: ignore[union-attr]
    assert len(private) == 1
    assert session["user_id"] == email
    assert lines[-1] == catalog.LOGGED_IN.format(url=saas.url, who=catalog.LOGGED_IN_AS.format(login=email))

    status = ok(operator.run("auth", "status", "--json", cwd=project))
    (row,) = json.loads(status.stdout)["sessions"]
    assert (row["email"], row["team"]) == (email, private[0]["slug"])
    assert str(session["access_token"]) not in status.stdout


def test_sync_run_needs_no_binding_and_sends_every_lane_row_once_as_an_envelope(operator: Shell, saas: DevSaas,
                                                                                 project: Path) -> None:
    ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    ok(operator.run("sync", "run", cwd=project))

    identity_text = (project / ".kittify" / "config.yaml").read_text()
    assert identity_text.startswith("project:\n  uuid: ")
    sent = saas.envelopes(event_type="WPStatusChanged")
    by_cause = {e["causation_id"]: e for e in sent}
    rows = rows_of(project, "001-alpha") + rows_of(project, "002-beta")
    assert sorted(by_cause) == sorted(str(r["event_id"]) for r in rows)
    assert len(sent) == len(rows)
    team = session_of(operator.home)["teams"][0]["slug"]  # type: ignore[index]
    for row in rows:
        envelope = by_cause[str(row["event_id"])]
        assert envelope["aggregate_id"] == row["wp_id"]
        assert envelope["timestamp"] == row["at"]
        assert envelope["payload"]["to_lane"] == row["to_lane"]
        assert envelope["team_slug"] == team
        assert f"uuid: {envelope['project_uuid']}" in identity_text
    clocks = [e["lamport_clock"] for e in sent]
    assert len(set(clocks)) == len(clocks)

    ok(operator.run("sync", "run", cwd=project))  # nothing new: nothing sent again
    assert len(saas.envelopes()) == len(rows)


def test_a_refused_project_is_parked_and_sent_after_retry(operator: Shell, saas: DevSaas, project: Path) -> None:
    ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    ok(operator.run("sync", "run", "--mission", "001-alpha", cwd=project))
    uuid = saas.envelopes()[0]["project_uuid"]
    saas.refuse_project(uuid)
    folder = project / "kitty-specs" / "002-beta"
    ok(operator.run("sync", "run", "--mission", "002-beta", cwd=project))
    report = json.loads(ok(operator.run("sync", "status", "--mission", "002-beta", "--json", cwd=project)).stdout)
    (mission,) = report["missions"]
    assert len(mission["parked"]) == 3
    assert "project_not_admitted" in mission["parked"][0]["reason"]

    saas.admit_project(uuid)
    ok(operator.run("sync", "retry", "--all", "--mission", "002-beta", cwd=project))
    ok(operator.run("sync", "run", "--mission", "002-beta", cwd=project))
    causes = {e["causation_id"] for e in saas.envelopes()}
    assert {str(r["event_id"]) for r in rows_of(project, folder.name)} <= causes


def test_a_protocol_mismatch_stops_with_the_hosts_guidance_and_keeps_the_events(operator: Shell, saas: DevSaas,
                                                                                 project: Path) -> None:
    ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    saas.arm_fault(412, guidance="Upgrade to spec-kitty 4.")
    ran = operator.run("sync", "run", "--mission", "001-alpha", cwd=project)
    assert ran.exit_code == 1, ran.describe()
    expected = catalog.SYNC_PROTOCOL_MISMATCH.filled(url=saas.url, guidance="Upgrade to spec-kitty 4.")
    assert expected.message in ran.stdout + ran.stderr
    assert saas.envelopes() == []
    ok(operator.run("sync", "run", "--mission", "001-alpha", cwd=project))
    assert len(saas.envelopes()) == 3


def test_a_failing_host_keeps_every_event_for_the_next_run(operator: Shell, saas: DevSaas, project: Path) -> None:
    ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    saas.arm_fault(500, count=20)
    assert operator.run("sync", "run", "--mission", "001-alpha", cwd=project).exit_code == 1
    saas.clear_faults()
    ok(operator.run("sync", "run", "--mission", "001-alpha", cwd=project))
    assert len(saas.envelopes()) == 3


def test_with_token_is_checked_with_me_and_logout_revokes_the_session(operator: Shell, saas: DevSaas,
                                                                       tmp_path: Path) -> None:
    repo = git_init(tmp_path / "scripted")
    token = saas.issue_token("scripted")
    ran = ok(operator.run("auth", "login", "--host", saas.url, "--with-token", cwd=repo, stdin=token + "\n"))
    assert token not in ran.stdout + ran.stderr
    assert "scripted" in ran.stdout
    ok(operator.run("auth", "login", "--host", saas.url, cwd=repo))
    session_id = session_of(operator.home)["session_id"]
    assert ok(operator.run("auth", "logout", cwd=repo)).stdout == f"Logged out of {saas.url}.\n"
    (ended,) = [s for s in saas.sessions() if s["session_id"] == session_id]
    assert ended["revoked_at"] is not None
    assert saas.stats()["requests"]["oauth_revoke"] == 1


def test_a_session_of_the_previous_protocol_asks_for_a_new_login(operator: Shell, saas: DevSaas,
                                                                  project: Path) -> None:
    operator.home.mkdir(parents=True, exist_ok=True)
    (operator.home / "auth.json").write_text(json.dumps(
        {"access_token": "skd_old", "server_url": saas.url, "login": "dev"}))
    (operator.home / "auth.json").chmod(0o600)
    ran = operator.run("sync", "run", cwd=project, env={"SPEC_KITTY_SAAS_URL": saas.url})
    assert ran.exit_code == 1
    assert ran.stdout == catalog.UNAUTHED_LEGACY.filled(url=saas.url).render() + "\n"
    assert saas.stats()["requests"].get("events_batch", 0) == 0


def test_one_host_is_one_queue_whatever_its_spelling(operator: Shell, saas: DevSaas, project: Path) -> None:
    """Issue 16 item 4: `HTTP://host:port/` and `http://host:port` are one origin, so one queue: the second
    spelling finds everything sent, and sends nothing again."""
    ok(operator.run("auth", "login", "--host", saas.url, cwd=project))
    ok(operator.run("sync", "run", "--mission", "001-alpha", cwd=project))
    shouted = saas.url.replace("http://", "HTTP://") + "/"
    again = ok(operator.run("sync", "run", "--mission", "001-alpha", cwd=project, env={"SPEC_KITTY_SAAS_URL": shouted}))
    assert "0 pushed" in again.stdout
    assert saas.stats()["requests"]["events_batch"] == 1
