"""The durable queue: given a queue file and a mission log, when rows are scanned, queued, acked or a
process dies mid-write, then every row is pending or acked exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.missions.moves import append_transition
from orchestrator.missions.ulid import new_ulid
from orchestrator.sync import rows
from orchestrator.sync.history import SyncHistory
from orchestrator.sync.mission_ref import MissionRef
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.rows import MAX_ROW_BYTES
from orchestrator.sync.scan import LogScanner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "missions"
KEY = MissionRef.at("https://saas.example", "proj", "001-demo").key


def fixture_rows(n: int) -> list[dict[str, Any]]:
    """Real rows from the shared fixtures, re-keyed so each is a distinct event."""
    base = [json.loads(line) for f in sorted(FIXTURES.glob("*/status.events.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]
    return [dict(base[i % len(base)], event_id=new_ulid()) for i in range(n)]


def lines_of(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(row, sort_keys=True) for row in rows]


def write_log(path: Path, lines: list[str], mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def pending_ids(queue: EventQueue, key: str = KEY) -> list[str]:
    return [event_id for event_id, _ in queue.pending(key, 10**9)]


@pytest.fixture
def qpath(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".spec-kitty" / "sync-queue.sqlite3"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "repo" / "kitty-specs" / "001-demo" / "status.events.jsonl"


# --- the file -------------------------------------------------------------------------------------------
def test_reads_never_create_the_file_and_the_first_write_makes_it_private(qpath: Path) -> None:
    with EventQueue(qpath) as queue:
        assert (queue.count(), queue.count(KEY), queue.pending(KEY, 10)) == (0, 0, [])
        assert (SyncHistory(queue).get_cursor(KEY), SyncHistory(queue).last_result(KEY)) == (None, None)
        assert not qpath.parent.exists()
        assert queue.enqueue(KEY, fixture_rows(1)) == 1
    assert stat.S_IMODE(qpath.stat().st_mode) == 0o600
    assert stat.S_IMODE(qpath.parent.stat().st_mode) == 0o700
    for sidecar in qpath.parent.glob(qpath.name + "-*"):  # WAL and shared-memory files, if still there
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600


def test_the_queue_survives_reopening(qpath: Path) -> None:
    rows = fixture_rows(3)
    with EventQueue(qpath) as queue:
        queue.enqueue(KEY, rows)
        SyncHistory(queue).set_cursor(KEY, 41)
    with EventQueue(qpath) as queue:
        assert pending_ids(queue) == [r["event_id"] for r in rows]
        assert SyncHistory(queue).get_cursor(KEY) == 41


# --- enqueue / pending / ack ----------------------------------------------------------------------------
def test_a_row_already_queued_or_acked_is_not_queued_again(qpath: Path) -> None:
    rows = fixture_rows(5)
    with EventQueue(qpath) as queue:
        assert queue.enqueue(KEY, rows) == 5
        assert queue.enqueue(KEY, rows) == 0
        queue.ack(KEY, [r["event_id"] for r in rows[:2]])
        assert queue.enqueue(KEY, rows) == 0
        assert queue.enqueue(KEY, rows + fixture_rows(1)) == 1
        assert queue.count(KEY) == 4
        assert queue.acked_count(KEY) == 2


def test_pending_is_oldest_first_and_limited(qpath: Path) -> None:
    rows = fixture_rows(7)
    with EventQueue(qpath) as queue:
        queue.enqueue(KEY, rows[:4])
        queue.enqueue(KEY, rows[4:])
        assert [i for i, _ in queue.pending(KEY, 3)] == [r["event_id"] for r in rows[:3]]
        queue.ack(KEY, [rows[1]["event_id"]])
        assert [i for i, _ in queue.pending(KEY, 3)] == [rows[0]["event_id"], rows[2]["event_id"], rows[3]["event_id"]]


def test_rows_without_a_usable_event_id_are_skipped(qpath: Path) -> None:
    good = fixture_rows(1)[0]
    odd = [{"wp_id": "WP01"}, {"event_id": 7}, {"event_id": ""}, {"event_id": None}]
    with EventQueue(qpath) as queue:
        assert queue.enqueue(KEY, [*odd, good]) == 1
        assert pending_ids(queue) == [good["event_id"]]


def test_missions_and_hosts_are_separate_queues(qpath: Path) -> None:
    rows = fixture_rows(2)
    other = MissionRef.at("https://other.example", "proj", "001-demo").key
    with EventQueue(qpath) as queue:
        queue.enqueue(KEY, rows)
        queue.ack(KEY, [r["event_id"] for r in rows])
        assert queue.enqueue(other, rows) == 2  # acked on one host says nothing about another
        assert (queue.count(KEY), queue.count(other), queue.count()) == (0, 2, 2)


def test_a_row_queued_by_wp_move_uploads_the_bytes_the_log_holds(qpath: Path, log: Path) -> None:
    log.parent.mkdir(parents=True)
    row = append_transition(log.parent, "WP01", "claimed", actor="me", reason="übernommen \"now\"")
    with EventQueue(qpath) as queue:
        assert queue.enqueue(KEY, [row]) == 1
        assert LogScanner(queue).scan_log(KEY, log) == 0  # the scan finds the same event id
        assert queue.pending(KEY, 1) == [(row["event_id"], log.read_text().rstrip("\n"))]


def test_ack_of_unknown_ids_is_harmless_and_remembered(qpath: Path) -> None:
    rows = fixture_rows(2)
    with EventQueue(qpath) as queue:
        queue.ack(KEY, [rows[0]["event_id"], rows[0]["event_id"]])
        queue.ack(KEY, [])
        assert queue.enqueue(KEY, rows) == 1


def test_cursor_and_last_result_round_trip(qpath: Path) -> None:
    with EventQueue(qpath) as queue:
        history = SyncHistory(queue)
        history.set_cursor(KEY, 12)
        history.record_result(KEY, {"pushed": 3, "pulled": 1, "error": None})
        result = history.last_result(KEY)
        assert result is not None
        assert result["pushed"] == 3
        assert result["error"] is None
        assert result["time"].endswith("Z")
        history.record_result(KEY, {"time": "2026-06-03T06:45:29Z", "pushed": 0, "pulled": 0, "error": "boom"})
        assert history.last_result(KEY) == {"time": "2026-06-03T06:45:29Z", "pushed": 0, "pulled": 0, "error": "boom"}
        assert history.get_cursor(KEY) == 12


# --- scanning a log -------------------------------------------------------------------------------------
def test_scan_keeps_each_line_verbatim(qpath: Path, log: Path) -> None:
    lines = ['{"event_id":"01A","to_lane": "done" ,"note":"caf\\u00e9"}', '{  "event_id" : "01B", "x": [1,2]}',
             '{"event_id": "01C", "text": "naïve ✓"}']
    write_log(log, lines)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 3
        assert queue.pending(KEY, 10) == [("01A", lines[0]), ("01B", lines[1]), ("01C", lines[2])]


def test_scan_skips_malformed_lines_and_rows_without_an_event_id(qpath: Path, log: Path) -> None:
    log.parent.mkdir(parents=True)
    log.write_bytes(b"\n".join([
        b'{"event_id": "01A"}', b"not json", b"[1, 2]", b'{"wp_id": "WP01"}', b'{"event_id": 3}',
        b'{"event_id": ""}', b"   ", b'{"event_id": "01\xff"}', b'{"event_id": "01B"}',
    ]) + b"\n")
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 2
        assert pending_ids(queue) == ["01A", "01B"]


def test_scan_of_a_missing_log_finds_nothing(qpath: Path, log: Path) -> None:
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 0
        log.mkdir(parents=True)  # something odd where the log should be
        assert LogScanner(queue).scan_log(KEY, log) == 0


def test_scan_picks_up_only_appended_rows(qpath: Path, log: Path) -> None:
    first, second = lines_of(fixture_rows(3)), lines_of(fixture_rows(2))
    write_log(log, first)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 3
        assert LogScanner(queue).scan_log(KEY, log) == 0
        write_log(log, second, mode="a")
        assert LogScanner(queue).scan_log(KEY, log) == 2
        assert pending_ids(queue) == [json.loads(line)["event_id"] for line in first + second]


def test_a_row_changed_in_place_before_the_checkpoint_is_queued(qpath: Path, log: Path) -> None:
    """Issue 16 item 2: a row changed in place far before the checkpoint (same length, same inode, the last
    KiB untouched) is a different log: its prefix no longer hashes as the checkpoint's did, so it is read
    again from the start and the changed row is queued (it used to be skipped for good)."""
    lines = [f'{{"event_id": "01A{i:03d}", "pad": "{"x" * 60}"}}' for i in range(50)]
    write_log(log, lines)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 50
        inode = log.stat().st_ino
        with log.open("r+b") as handle:
            handle.write(b'{"event_id": "01Z000"')
        assert log.stat().st_ino == inode
        assert LogScanner(queue).scan_log(KEY, log) == 1
        assert "01Z000" in pending_ids(queue)


def test_scan_parses_only_what_was_appended(qpath: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proven prefix is hashed, not parsed: after an append only the new bytes reach the parser."""
    lines = [f'{{"event_id": "01A{i:03d}", "pad": "{"x" * 60}"}}' for i in range(50)]
    write_log(log, lines)
    parsed: list[tuple[int, int]] = []
    real = rows.parse_lines

    def spy(chunk: bytes, offset: int, rows: Any = None) -> Any:
        parsed.append((offset, len(chunk)))
        return real(chunk, offset, rows)

    monkeypatch.setattr(rows, "parse_lines", spy)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 50
        size = log.stat().st_size
        parsed.clear()
        write_log(log, ['{"event_id": "01B000"}'], mode="a")
        assert LogScanner(queue).scan_log(KEY, log) == 1
    assert parsed == [(size, len('{"event_id": "01B000"}') + 1)]


def test_a_torn_last_line_waits_for_its_newline(qpath: Path, log: Path) -> None:
    full = lines_of(fixture_rows(3))
    log.parent.mkdir(parents=True)
    log.write_text(full[0] + "\n" + full[1] + "\n" + full[2][:40])
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 2
        assert LogScanner(queue).scan_log(KEY, log) == 0
        with log.open("a") as out:
            out.write(full[2][40:])
        # issue 10: a whole JSON object is taken without its newline (an editor's last line)
        assert LogScanner(queue).scan_log(KEY, log) == 1
        with log.open("a") as out:
            out.write("\n")
        assert LogScanner(queue).scan_log(KEY, log) == 0
        assert queue.pending(KEY, 10)[-1][1] == full[2]


def test_a_shrunk_log_is_rescanned_from_the_start(qpath: Path, log: Path) -> None:
    old, new = lines_of(fixture_rows(6)), lines_of(fixture_rows(1))
    write_log(log, old)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 6
        queue.ack(KEY, pending_ids(queue))
        write_log(log, old[:1] + new)  # e.g. a `git reset` to an older log with one new row
        assert LogScanner(queue).scan_log(KEY, log) == 1
        assert pending_ids(queue) == [json.loads(new[0])["event_id"]]


def test_a_replaced_log_is_rescanned_from_the_start(qpath: Path, log: Path) -> None:
    old, new = lines_of(fixture_rows(3)), lines_of(fixture_rows(2))
    write_log(log, old)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 3
        replacement = log.with_name("replacement.jsonl")
        write_log(replacement, new + old)  # longer than before, new rows first: an offset resume would miss them
        os.replace(replacement, log)
        assert LogScanner(queue).scan_log(KEY, log) == 2
        assert set(pending_ids(queue)) == {json.loads(line)["event_id"] for line in old + new}


def test_a_log_rewritten_in_place_is_rescanned(qpath: Path, log: Path) -> None:
    old, new = lines_of(fixture_rows(3)), lines_of(fixture_rows(3))
    write_log(log, old)
    with EventQueue(qpath) as queue:
        assert LogScanner(queue).scan_log(KEY, log) == 3
        inode = log.stat().st_ino
        write_log(log, new + old)  # truncate and rewrite: same inode, bigger
        assert log.stat().st_ino == inode
        assert LogScanner(queue).scan_log(KEY, log) == 3


def test_scanning_in_small_chunks_splits_lines_correctly(qpath: Path, log: Path) -> None:
    """Huge logs are read and committed chunk by chunk; a line longer than a chunk still arrives whole."""
    lines = lines_of(fixture_rows(40))
    write_log(log, lines)
    with EventQueue(qpath) as queue:
        steps = list(LogScanner(queue).steps(KEY, log, chunk=97))  # the chunk reaches the scan itself
        assert [step.added for step in steps] == [1] * 40  # every line is longer than a chunk: one a step
        assert [text for _, text in queue.pending(KEY, 100)] == lines


# --- several processes, and crashes ---------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from orchestrator.sync.queue import EventQueue
    from orchestrator.sync.scan import LogScanner

    qpath, log, key = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    first, batches = int(sys.argv[4]), int(sys.argv[5])
    with EventQueue(qpath) as queue:
        for b in range(first, first + batches):
            ids = [f"B{b:06d}-{j:03d}" for j in range(100)]
            queue.enqueue(key, [{"event_id": i, "n": n} for n, i in enumerate(ids)])
            print("enq", b, flush=True)
            if b % 2:
                queue.ack(key, [f"B{b - 1:06d}-{j:03d}" for j in range(100)])
                print("ack", b - 1, flush=True)
            with log.open("a") as out:
                for j in range(20):
                    out.write(json.dumps({"event_id": f"L{b:06d}-{j:03d}", "pad": "x" * 200}) + "\\n")
            LogScanner(queue).scan_log(key, log)
            print("scan", b, flush=True)
""")


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def run_child(qpath: Path, log: Path, first: int, batches: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(qpath), str(log), KEY, str(first), str(batches)],
                            stdout=subprocess.PIPE, text=True)


def test_kill_9_mid_write_loses_nothing_and_doubles_nothing(qpath: Path, log: Path) -> None:
    """Given a process that queues, acks and scans in a loop, when it is SIGKILLed at a random moment
    (three times), then each batch is wholly there or wholly absent, everything it reported is there,
    nothing is both pending and acked, and every complete log line is queued exactly once."""
    log.parent.mkdir(parents=True)
    reported_enq: set[int] = set()
    reported_ack: set[int] = set()
    chance = random.Random(20261206)  # where the kills land is varied, and the same in every run
    for round_no in range(3):
        first = round_no * 10_000
        child = run_child(qpath, log, first, 10_000)
        assert child.stdout is not None
        target = chance.randint(5, 60)
        for seen, line in enumerate(child.stdout, start=1):
            kind, number = line.split()
            (reported_enq if kind == "enq" else reported_ack if kind == "ack" else set()).add(int(number))
            if seen >= target:
                break
        time.sleep(chance.uniform(0, 0.05))  # land anywhere in the next steps, not just after a print
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        complete = rest.split("\n")[:-1]  # the kill may land mid-print: an unterminated last line reported nothing
        for line in complete:
            kind, number = line.split()
            (reported_enq if kind == "enq" else reported_ack if kind == "ack" else set()).add(int(number))
        assert child.returncode == -signal.SIGKILL

    with contextlib.closing(sqlite3.connect(qpath)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with EventQueue(qpath) as queue:
        pending = pending_ids(queue)
        assert len(pending) == len(set(pending)), "a row is queued twice"
        pending_set = set(pending)
        batches = {int(i[1:7]) for i in pending_set if i.startswith("B")} | reported_enq | reported_ack
        for b in batches:
            ids = {f"B{b:06d}-{j:03d}" for j in range(100)}
            present = ids & pending_set
            assert present in (set(), ids), f"batch {b} half queued or half acked"
            if b in reported_ack:
                assert not present, f"batch {b} was acked but is pending again"
            if b in reported_enq and b % 2:  # odd batches are never acked
                assert present == ids, f"batch {b} was queued but is gone"
        assert queue.enqueue(KEY, [{"event_id": f"B{b:06d}-{j:03d}"} for b in reported_enq for j in range(100)]) == 0

        complete = [line for line in log.read_text().split("\n")[:-1] if line]
        log_ids = [json.loads(line)["event_id"] for line in complete if is_json(line)]
        # a line a kill cut short is glued to the next round's first line: complete, not JSON, parked by the scan
        LogScanner(queue).scan_log(KEY, log)
        queued_log_rows = [i for i in pending_ids(queue) if i.startswith("L")]
        assert sorted(queued_log_rows) == sorted(set(log_ids)), "a log row is missing or doubled"


def test_two_processes_scanning_one_log_queue_each_row_once(qpath: Path, log: Path) -> None:
    rows = fixture_rows(300)
    parked = sum(len(json.dumps(r)) > MAX_ROW_BYTES for r in rows)  # over the batch ceiling: parked, not queued
    write_log(log, lines_of(rows))
    script = ("import sys; from pathlib import Path; from orchestrator.sync.queue import EventQueue\n"
              "from orchestrator.sync.scan import LogScanner\n"
              "with EventQueue(Path(sys.argv[1])) as q:\n"
              "    print(LogScanner(q).scan_log(sys.argv[3], Path(sys.argv[2])))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(qpath), str(log), KEY], stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    added = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(added) == 300 - parked
    with EventQueue(qpath) as queue:
        assert queue.count(KEY) == 300 - parked


def test_a_log_unwritten_since_a_settled_scan_is_not_read_again(qpath: Path, log: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """git's racily-clean rule: the whole stat as the last scan took it, with a ctime already old then (the
    clock is moved, not waited for), proves the file unwritten; a ctime as fresh as the scan does not."""
    from orchestrator.missions import logproof

    write_log(log, [f'{{"event_id": "01A{i:03d}"}}' for i in range(5)])
    proofs: list[int] = []
    real = logproof.prove
    monkeypatch.setattr(logproof, "prove", lambda fd, offset, digest: proofs.append(offset) or real(fd, offset,
                                                                                                      digest))
    ctime = log.stat().st_ctime_ns
    with EventQueue(qpath) as queue:
        monkeypatch.setattr(logproof, "clock", lambda: ctime + logproof.SETTLE_FINE_NS - 1)  # still racy
        assert LogScanner(queue).scan_log(KEY, log) == 5
        assert LogScanner(queue).scan_log(KEY, log) == 0
        assert proofs == [log.stat().st_size]  # not settled: the prefix was hashed again
        monkeypatch.setattr(logproof, "clock", lambda: ctime + logproof.SETTLE_FINE_NS)  # settled now
        assert LogScanner(queue).scan_log(KEY, log) == 0  # proven once more, and remembered as settled
        proofs.clear()
        assert LogScanner(queue).scan_log(KEY, log) == 0
        assert proofs == []  # unwritten since a settled scan: not read at all
        with log.open("r+b") as handle:  # a write moves ctime: read again
            handle.write(b'{"event_id": "01Z000"}')
        assert LogScanner(queue).scan_log(KEY, log) == 1
