"""The daemon's life is one machine (``states/daemon_life.py``), checked without a single process.

Given raw facts (spec-kitty's state file, the lock's holder, our state file, the control answer, leftovers,
queued work), when a place asks its question, then the machine lands in exactly the state the old
if-chains decided, reads only the facts its rows need, and every place has wording for every state its
question can end in.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devsaas import diagrams
from states import catalog
from states import daemon_life as life
from states.daemon_life import StaticLifeFacts
from states.diagram import daemon_mermaid, daemon_transitions

COMMITTED = Path(__file__).resolve().parents[1] / "diagrams"
NAMES = StaticLifeFacts.NAMES
EVERY_COMBINATION = [dict(zip(NAMES, values, strict=True))
                     for values in itertools.product((False, True), repeat=len(NAMES))]


def oracle(question: str, f: dict[str, bool]) -> str:
    """The decisions as the code made them before the machine, one plain if-chain per question."""
    steps = life.QUESTIONS[question]
    if life.LOOK_FOREIGN in steps and (f["foreign_file"] or f["foreign_holder"]):
        return life.FOREIGN if f["foreign_alive"] else life.FOREIGN_STALE  # a holder's pid lives: see LiveLife
    if life.LOOK_LOCK not in steps:
        return life.UNSEEN
    if not f["lock_held"]:
        if f["spawn_pending"]:
            return life.STARTING
        if life.LOOK_LEFTOVERS in steps and f["work_queued"] and f["left_behind"]:
            return life.DIED
        return life.NOT_RUNNING
    if life.LOOK_STATE not in steps:
        return life.HELD
    if not f["published"]:
        return life.STARTING
    if life.ASK not in steps:
        return life.PUBLISHED
    if not f["answers"]:
        return life.HUNG
    if not f["healthy"]:
        return life.RETIRING
    return life.RUNNING if f["our_version"] else life.OTHER_VERSION


@pytest.mark.parametrize("question", life.QUESTIONS)
def test_each_fact_combination_lands_in_one_state_the_one_the_old_code_decided(question: str) -> None:
    for facts in EVERY_COMBINATION:
        state = life.look(StaticLifeFacts(**facts), question)
        assert state == oracle(question, facts), (question, facts)
        assert state in life.outcomes(question)


def test_every_state_is_reached_by_some_question_and_some_facts() -> None:
    reached = {life.look(StaticLifeFacts(**facts), question)
               for question in life.QUESTIONS for facts in EVERY_COMBINATION}
    assert reached == set(life.STATES)


@pytest.mark.parametrize("question", life.QUESTIONS)
def test_outcomes_read_off_the_table_are_exactly_the_states_reached(question: str) -> None:
    reached = {life.look(StaticLifeFacts(**facts), question) for facts in EVERY_COMBINATION}
    assert reached <= set(life.outcomes(question))
    assert set(life.outcomes(question)) - reached <= {life.STARTING}  # a spawn only `ensure` can have


def test_every_place_has_wording_for_every_state_its_question_ends_in() -> None:
    assert set(life.outcomes(life.STATUS_Q)) == set(life.STATUS_LINE) == set(life.DAEMON_STATUS_LINE)
    assert set(life.outcomes(life.LEFTOVERS_Q)) == set(life.SYNC_STATUS_WORD)
    assert life.DAEMON_STATUS_LINE[life.STARTING] == catalog.DAEMON_LINE_STARTING
    assert life.STATUS_LINE[life.STARTING] == catalog.DAEMON_LINE_NOT_RUNNING  # `status` never said "starting"
    assert set(catalog.DAEMON_LIFE_NOTES) == set(life.STATES)


def test_a_question_reads_only_the_facts_its_rows_need() -> None:
    spec_kittys = StaticLifeFacts(foreign_file=True, foreign_alive=True, lock_held=True)
    assert life.look(spec_kittys, life.STATUS_Q) == life.FOREIGN
    assert spec_kittys.read == ["foreign_file", "foreign_alive"]  # never the lock, never a loopback call

    free = StaticLifeFacts(left_behind=True)
    assert life.look(free, life.LEFTOVERS_Q) == life.NOT_RUNNING
    assert "left_behind" not in free.read  # nothing queued: no need to look for leftovers

    starting = StaticLifeFacts(lock_held=True)
    assert life.look(starting, life.ENSURE_Q) == life.STARTING
    assert "answers" not in starting.read  # an unpublished holder is never asked


def test_static_facts_refuse_a_fact_the_machine_does_not_know() -> None:
    with pytest.raises(TypeError):
        StaticLifeFacts(lock_hold=True)


def test_many_threads_may_ask_at_once() -> None:
    """The daemon's worker threads share the machine: each question has its own model."""
    cases = [(question, facts) for question in life.QUESTIONS for facts in EVERY_COMBINATION[::37]]

    def ask(case: tuple[str, dict[str, bool]]) -> bool:
        question, facts = case
        return life.look(StaticLifeFacts(**facts), question) == oracle(question, facts)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(ask, cases * 4))


def test_the_diagram_draws_every_state_and_every_row_with_its_guard() -> None:
    text = daemon_mermaid()
    for state in life.STATES:
        assert f'state "{state}" as {state}\n' in text
    for row in daemon_transitions():
        assert row["label"] in text
    assert (COMMITTED / diagrams.DAEMON_FILE).read_text(encoding="utf-8") == text
    readme = (COMMITTED / diagrams.README_FILE).read_text(encoding="utf-8")
    assert f"```mermaid\n{text}```" in readme
    for state in life.STATES:
        assert f"| `{state}` | {catalog.DAEMON_LIFE_NOTES[state]} |" in readme


# --- the live facts, from files alone (no daemon, no lock holder) -----------------------------------------
GONE_PID = 999_999_999  # no such process


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv(catalog.HOME_ENV_VAR, str(folder))
    return folder


def test_given_spec_kittys_state_file_naming_a_gone_pid_then_status_says_so(home: Path) -> None:
    from orchestrator.daemon.life import foreign_daemon, summary_line

    (home / "sync-daemon").write_text(f"http://127.0.0.1:9400\n9400\ntoken\n{GONE_PID}\n", encoding="utf-8")
    assert summary_line() == catalog.DAEMON_LINE_FOREIGN_STALE.format(pid=GONE_PID)
    found = foreign_daemon()
    assert found is not None
    assert (found.pid, found.alive) == (GONE_PID, False)


def test_given_our_state_file_and_no_lock_holder_then_not_running_and_nothing_is_asked(home: Path) -> None:
    from orchestrator.daemon.life import daemon_status, summary_line
    from orchestrator.daemon.state import DaemonState, write_state

    write_state(DaemonState(GONE_PID, 1, "secret", "0.0.0", ""))  # port 1: asking would fail loudly
    assert summary_line() == catalog.DAEMON_LINE_NOT_RUNNING
    assert daemon_status(timeout=0.01) == (life.NOT_RUNNING, {"running": False})


def test_given_leftovers_then_sync_status_says_died_only_while_work_waits(home: Path) -> None:
    from orchestrator.sync.status import daemon_word

    (home / "sync-daemon.lock").write_text("", encoding="utf-8")  # a file nobody holds a lock on
    assert daemon_word(work_queued=True) == (catalog.DAEMON_DIED_WORD, False)
    assert daemon_word() == (catalog.DAEMON_NOT_RUNNING_WORD, False)
