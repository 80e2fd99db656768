"""The readiness machine, driven through every combination of facts.

Given facts (``StaticFacts``: plain values, a counting probe) and a command's need (how far readiness
must get, and its intent), when the machine settles, then it rests in the first state whose
prerequisite is missing, in the documented order

    Disabled (rollout flag) → Unauthed (token) → NoHost (host URL) → Unbound (binding) → Ready,

and only then applies the intent. Work for a daemon (REMOTE_REQUIRED, DAEMON) asks the policy first,
where a daemon question can be asked (at Ready: a job; at Unauthed: hosted sync is on, the daemon's own
life): Daemon_off (SPEC_KITTY_SYNC_DISABLE), Daemon_manual (policy manual, no probe), else Daemon_auto.
Commands that talk to the host (ONE_SHOT, REMOTE_REQUIRED) then probe it once a host is known (need
Unbound or later) or a daemon took the job (Unreachable when it does not answer); the DAEMON intent
never probes (the daemon's sync meets the host itself). The expected state below is computed from that
specification, independently of the machine's transition table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from states import catalog
from states import machine as sm
from states.facts import Intent, Need, StaticFacts

CHAIN = ("Disabled", "Unauthed", "NoHost", "Unbound", "Ready")
NEEDS = CHAIN
INTENTS = tuple(Intent)

FACT_SPACE: dict[str, tuple[Any, ...]] = {
    "rollout_enabled": (False, True),
    "has_token": (False, True),
    "host_url": (None, "", "https://saas.example"),
    "is_bound": (False, True),
    "daemon_policy": ("auto", "manual"),
    "sync_disabled": (False, True),
    "reachable": (False, True),
}


def every_facts() -> list[dict[str, Any]]:
    names = list(FACT_SPACE)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*FACT_SPACE.values())]


@dataclass(frozen=True)
class Expected:
    state: str
    proceed: bool
    probes: int


def expected(facts: dict[str, Any], need: str, intent: Intent) -> Expected:
    """The specification, written out: first missing prerequisite, then the intent."""
    held = (facts["rollout_enabled"], facts["has_token"], bool(facts["host_url"]), facts["is_bound"])
    target = CHAIN.index(need)
    for position in range(target):  # only prerequisites of states before the need are checked
        if not held[position]:
            return Expected(CHAIN[position], proceed=False, probes=0)
    state = need
    if intent in (Intent.REMOTE_REQUIRED, Intent.DAEMON) and need in ("Unauthed", "Ready"):
        if facts["sync_disabled"]:
            return Expected("Daemon_off", proceed=False, probes=0)
        if facts["daemon_policy"] == "manual":
            return Expected("Daemon_manual", proceed=False, probes=0)
        state = "Daemon_auto"
    talks = intent in (Intent.ONE_SHOT, Intent.REMOTE_REQUIRED)
    if talks and (target >= CHAIN.index("Unbound") or state == "Daemon_auto"):  # a host is needed: probe it
        if not facts["reachable"]:
            return Expected("Unreachable", proceed=False, probes=1)
        return Expected(state, proceed=True, probes=1)
    return Expected(state, proceed=True, probes=0)


def check(facts_values: dict[str, Any], need: str, intent: Intent) -> None:
    facts = StaticFacts(**facts_values)
    verdict = sm.settle(facts, Need(hosted=True, state=need, intent=intent))
    want = expected(facts_values, need, intent)
    got = Expected(verdict.state, verdict.proceed, facts.probe_calls)
    assert got == want, f"facts={facts_values} need={need} intent={intent.name}"


@pytest.mark.parametrize("intent", INTENTS, ids=lambda i: i.name)
@pytest.mark.parametrize("need", NEEDS)
def test_given_every_fact_combination_when_settling_then_first_missing_prerequisite_wins(
        need: str, intent: Intent) -> None:
    """Given each of the 192 fact combinations, when the machine settles for this need and intent,
    then it rests where the specification says and probes exactly as often as it says."""
    for facts_values in every_facts():
        check(facts_values, need, intent)


@settings(max_examples=300, deadline=None, database=None)
@given(
    facts_values=st.fixed_dictionaries({name: st.sampled_from(values) for name, values in FACT_SPACE.items()}),
    need=st.sampled_from(NEEDS),
    intent=st.sampled_from(INTENTS),
    repeats=st.integers(min_value=1, max_value=3),
)
def test_property_settling_is_the_specification_and_does_not_depend_on_history(
        facts_values: dict[str, Any], need: str, intent: Intent, repeats: int) -> None:
    """The process-wide machine is shared: settling the same question repeatedly (after others) must
    give the same answer every time."""
    for _ in range(repeats):
        check(facts_values, need, intent)
        check({**facts_values, "rollout_enabled": not facts_values["rollout_enabled"]}, need, intent)


def test_given_manual_policy_when_remote_required_then_never_probes() -> None:
    """Given a ready machine with policy manual, when a REMOTE_REQUIRED command asks, then the probe
    is never called (it would open a socket) and the machine rests in Daemon_manual."""

    def explode() -> None:
        raise AssertionError("probed under manual policy")

    facts = StaticFacts(daemon_policy="manual", on_probe=explode)
    verdict = sm.settle(facts, Need(hosted=True, state="Ready", intent=Intent.REMOTE_REQUIRED))
    assert (verdict.state, verdict.proceed, facts.probe_calls) == ("Daemon_manual", False, 0)


@pytest.mark.parametrize("missing", ["rollout_enabled", "has_token", "host_url", "is_bound"])
@pytest.mark.parametrize("intent", [Intent.ONE_SHOT, Intent.REMOTE_REQUIRED])
def test_given_an_earlier_prerequisite_missing_when_remote_command_then_never_probes(
        missing: str, intent: Intent) -> None:
    """Local checks always come first: no probe while any local prerequisite is missing."""

    def explode() -> None:
        raise AssertionError("probed although a local prerequisite is missing")

    facts = StaticFacts(on_probe=explode, **{missing: None if missing == "host_url" else False})
    verdict = sm.settle(facts, Need(hosted=True, state="Ready", intent=intent))
    assert verdict.proceed is False
    assert facts.probe_calls == 0


@pytest.mark.parametrize("need", NEEDS)
def test_given_local_only_intent_when_settling_then_never_probes(need: str) -> None:
    facts = StaticFacts(reachable=False)
    verdict = sm.settle(facts, Need(hosted=True, state=need, intent=Intent.LOCAL_ONLY))
    assert (verdict.state, verdict.proceed, facts.probe_calls) == (need, True, 0)


class RecordingFacts:
    """Facts that remember which ones were read (the machine must look only as far as it needs)."""

    def __init__(self, **values: Any) -> None:
        self._values = {**StaticFacts().__dict__, **values}
        self.read: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._values:
            raise AttributeError(name)
        self.read.append(name)
        return self._values[name]

    def host_reachable(self) -> bool:
        self.read.append("host_reachable()")
        return bool(self._values["reachable"])


def test_given_flag_off_when_help_asks_whether_hosted_groups_exist_then_only_the_flag_is_read() -> None:
    """``--help`` asks for the hosted groups' need (Unauthed); with the flag off that must read the
    flag and nothing else (no config.toml, no auth.json, no repository walk)."""
    facts = RecordingFacts(rollout_enabled=False)
    verdict = sm.settle(facts, Need(hosted=True, state="Unauthed"))
    assert (verdict.state, verdict.proceed) == ("Disabled", False)
    assert facts.read == ["rollout_enabled"]


def test_given_a_proceeding_command_when_settling_then_reads_only_its_prerequisites() -> None:
    facts = RecordingFacts()
    verdict = sm.settle(facts, Need(hosted=True, state="Unbound"))
    assert verdict.proceed is True
    assert facts.read == ["rollout_enabled", "has_token", "host_url"]


def test_given_unbound_when_rendering_then_only_then_is_the_slug_read() -> None:
    facts = RecordingFacts(is_bound=False, mission_slug="082-x")
    verdict = sm.settle(facts, Need(hosted=True, state="Ready"))
    assert verdict.state == "Unbound"
    assert "mission_slug" not in facts.read
    assert verdict.outcome is not None
    assert verdict.outcome.message == "No tracker binding exists for feature `082-x`."


# --- wording -----------------------------------------------------------------------------------------
def outcome_for(intent: Intent = Intent.LOCAL_ONLY, **facts: Any) -> catalog.Failure | None:
    defaults: dict[str, Any] = {"mission_slug": "082-stealth", "host_url": "https://saas.example"}
    verdict = sm.settle(StaticFacts(**{**defaults, **facts}), Need(hosted=True, state="Ready", intent=intent))
    return verdict.outcome


@pytest.mark.parametrize(
    ("facts", "intent", "rendered", "exit_code"),
    [
        pytest.param({"rollout_enabled": False}, Intent.LOCAL_ONLY,
                     "Hosted SaaS sync is not enabled on this machine. Set `SPEC_KITTY_ENABLE_SAAS_SYNC=1` to "
                     "opt in.\n\nSet `SPEC_KITTY_ENABLE_SAAS_SYNC=1` and retry.", 1, id="Disabled"),
        pytest.param({"has_token": False}, Intent.LOCAL_ONLY,
                     "No SaaS authentication token is present.\n\nRun `spec-kitty auth login`.", 1, id="Unauthed"),
        pytest.param({"host_url": None}, Intent.LOCAL_ONLY,
                     "No SaaS host URL is configured.\n\nRun `spec-kitty config set sync.server_url <url>`.", 1,
                     id="NoHost"),
        pytest.param({"is_bound": False}, Intent.LOCAL_ONLY,
                     "No tracker binding exists for feature `082-stealth`.\n\nRun `spec-kitty tracker bind`.", 1,
                     id="Unbound"),
        pytest.param({"reachable": False}, Intent.ONE_SHOT,
                     "The SaaS host `https://saas.example` did not respond within 2 seconds.\n\n"
                     "Check your network connection and retry.", 1, id="Unreachable"),
        pytest.param({"daemon_policy": "manual"}, Intent.REMOTE_REQUIRED,
                     'Background sync is in manual mode (`[sync].background_daemon = "manual"`).\n'
                     "Run `spec-kitty sync run` to perform a one-shot remote sync.", 0, id="Daemon_manual"),
        pytest.param({"sync_disabled": True}, Intent.REMOTE_REQUIRED,
                     "Background sync is disabled by `SPEC_KITTY_SYNC_DISABLE`.\n"
                     "Run `spec-kitty sync run` to perform a one-shot remote sync.", 0, id="Daemon_off"),
    ],
)
def test_given_a_stopping_state_when_rendering_then_the_catalog_wording_is_exact(
        facts: dict[str, Any], intent: Intent, rendered: str, exit_code: int) -> None:
    outcome = outcome_for(intent, **facts)
    assert outcome is not None
    assert outcome.render() == rendered
    assert int(outcome.exit_code) == exit_code


@pytest.mark.parametrize("intent", INTENTS, ids=lambda i: i.name)
def test_given_everything_ready_when_rendering_then_there_is_no_failure(intent: Intent) -> None:
    assert outcome_for(intent) is None


def test_every_failure_names_one_next_action_on_one_line() -> None:
    for state, entry in sm.OUTCOMES.items():
        assert entry.message, state
        assert "\n" not in entry.message, state
        assert entry.next_action, state
        assert "\n" not in entry.next_action, state


# --- the library traps the design calls out ---------------------------------------------------------
def test_no_readiness_attribute_shadows_a_trigger() -> None:
    """A model attribute named like a trigger silently wins over the trigger in ``transitions``."""
    m = sm.machine()
    triggers = set(m.events)
    assert triggers  # sanity: the machine has triggers at all
    assert not triggers & set(dir(sm.Readiness)), sorted(triggers & set(dir(sm.Readiness)))
    assert not triggers & set(vars(sm.Readiness(StaticFacts()))), "instance attributes shadow triggers"


def test_every_condition_in_the_table_is_a_readiness_method() -> None:
    for transition in sm.TRANSITIONS:
        for key in ("conditions", "unless"):
            if key in transition:
                assert callable(getattr(sm.Readiness, transition[key], None)), transition


def test_build_machine_refuses_a_model_whose_attribute_shadows_a_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sm.Readiness, sm.ADVANCE, lambda self: None, raising=False)
    with pytest.raises(TypeError, match="shadow"):
        sm.build_machine()


def test_the_machine_uses_only_the_core_transitions_machine() -> None:
    from transitions import Machine

    assert type(sm.machine()) is Machine


def test_settle_leaves_no_model_attached() -> None:
    """Models are removed after settling, so the process-wide machine does not grow per call."""
    before = len(sm.machine().models)
    for need in NEEDS:
        sm.settle(StaticFacts(), Need(hosted=True, state=need))
    assert len(sm.machine().models) == before


def test_state_order_is_the_documented_chain() -> None:
    assert sm.STATE_ORDER == CHAIN
    assert [p.state for p in sm.PREREQUISITES] == list(CHAIN[:-1])
