"""The CLI and the dev SaaS agree on names, work-package ids and lanes, because both read states/contract.py.

Given the one contract module, then every place that checks a name, a WP id or a lane uses it (no
second copy to drift), the lanes are spec-kitty's (the fixture), and, checked through the functions
each end actually calls, a name the runtime accepts is one the dev SaaS accepts and the reverse; a
WP id the runtime sends is a name the dev SaaS accepts; a lane the runtime records the server takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsaas import api
from orchestrator.missions import folders, moves
from orchestrator.sync import rows
from states import contract, lanes

FIXTURE = Path(__file__).parent / "fixtures" / "lane-transitions.json"
NAME_CHARS = st.characters(codec="utf-8")


def test_every_end_uses_the_contract_objects_themselves() -> None:
    assert folders.SLUG is contract.NAME
    assert moves.WP_ID is contract.WP_ID
    assert rows.WP_ID_ASCII is contract.WP_ID
    assert moves.LANES is lanes.LANES is contract.LANES
    assert api.NAME_RE is contract.NAME
    assert api.LANES is contract.LANES


def test_the_lanes_are_spec_kittys() -> None:
    assert list(contract.LANES) == json.loads(FIXTURE.read_text(encoding="utf-8"))["lanes"]


def dev_saas_accepts_name(value: str) -> bool:
    try:
        api.valid_name(value, "project")
    except api.ApiError:
        return False
    return True


def dev_saas_accepts_lane(value: object) -> bool:
    try:
        api.valid_lane(value)
    except api.ApiError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(contract.NAME, fullmatch=True), st.text(NAME_CHARS, max_size=140)))
def test_a_name_the_runtime_accepts_is_exactly_a_name_the_dev_saas_accepts(value: str) -> None:
    assert bool(folders.SLUG.fullmatch(value)) == dev_saas_accepts_name(value)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(contract.WP_ID, fullmatch=True))
def test_every_wp_id_the_runtime_sends_is_a_name_the_dev_saas_accepts(wp_id: str) -> None:
    assert dev_saas_accepts_name(wp_id)


@pytest.mark.parametrize("typed", [*contract.LANES, *lanes.ALIASES])
def test_every_lane_the_runtime_records_the_dev_saas_accepts(typed: str) -> None:
    recorded = lanes.canonical(typed)
    assert recorded is not None
    assert dev_saas_accepts_lane(recorded)


@pytest.mark.parametrize("value", ["doing", "genesis", "Done", "", None])
def test_what_is_no_lane_to_the_runtime_is_refused_by_the_dev_saas(value: str | None) -> None:
    assert (value in contract.LANES) is False
    assert not dev_saas_accepts_lane(value)


@pytest.mark.parametrize("wp_id", ["WP1", "WP01", "WP1234"])
def test_work_package_ids_are_wp_and_one_to_four_ascii_digits(wp_id: str) -> None:
    assert contract.WP_ID.fullmatch(wp_id)


@pytest.mark.parametrize("wp_id", ["WP", "WP12345", "wp01", "WP٠١", "WP-1"])
def test_anything_else_is_no_work_package_id(wp_id: str) -> None:
    assert not contract.WP_ID.fullmatch(wp_id)
