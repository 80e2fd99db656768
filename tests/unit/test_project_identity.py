"""Given a repository as spec-kitty 3.2.7 leaves it (or a bare ``git init`` folder), when a sync needs the
project's identity, then it reads spec-kitty's ``project:`` block, or writes one in spec-kitty's layout
keeping every other key and comment; and the lamport clock never hands out a value twice."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from orchestrator.project import identity as project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "spec-kitty"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "home"
    monkeypatch.setenv("SPEC_KITTY_HOME", str(where))
    return where


def repo_with(tmp_path: Path, text: str | None) -> Path:
    root = tmp_path / "my_Repo"
    (root / ".kittify").mkdir(parents=True)
    if text is not None:
        (root / ".kittify" / "config.yaml").write_text(text, encoding="utf-8")
    return root


def test_given_spec_kittys_own_config_then_its_identity_is_used_and_the_file_is_untouched(tmp_path: Path) -> None:
    root = repo_with(tmp_path, None)
    shutil.copy(FIXTURES / "config.yaml", root / ".kittify" / "config.yaml")
    before = (root / ".kittify" / "config.yaml").read_bytes()

    identity = project.ensure_identity(root)

    assert identity == project.ProjectIdentity("e6ba053a-f20c-4261-ac77-1232701fba96", "p", "b805cd5cee74",
                                               "c5c0b3cb-648a-53ab-bc7d-095201c07513")
    assert (root / ".kittify" / "config.yaml").read_bytes() == before


def test_spec_kittys_derivations_give_its_build_id() -> None:
    assert project.build_id("e6ba053a-f20c-4261-ac77-1232701fba96", "b805cd5cee74") == \
        "c5c0b3cb-648a-53ab-bc7d-095201c07513"
    assert len(project.node_id()) == 12


def test_given_a_config_without_a_project_block_then_one_is_added_and_comments_and_keys_stay(tmp_path: Path) -> None:
    text = "# the operator's notes\nvcs:\n  type: git  # keep me\nagents:\n  auto_commit: false\n"
    root = repo_with(tmp_path, text)

    identity = project.ensure_identity(root)

    written = (root / ".kittify" / "config.yaml").read_text()
    assert written.startswith(text)
    assert written[len(text):] == (f"project:\n  uuid: {identity.uuid}\n  slug: my-repo\n"
                                   f"  node_id: {identity.node_id}\n  build_id: {identity.build_id}\n")
    assert identity.build_id == project.build_id(identity.uuid, identity.node_id)
    assert project.ensure_identity(root) == identity  # read back, not minted again


def test_given_no_config_then_one_is_created_0600_and_a_partial_block_is_completed(tmp_path: Path) -> None:
    root = repo_with(tmp_path, "project:\n  uuid: 1D231484-659E-47F6-BB5E-23C777F7D9AA\n  slug: kept\n")
    identity = project.ensure_identity(root)
    assert (identity.uuid, identity.slug) == ("1d231484-659e-47f6-bb5e-23c777f7d9aa", "kept")

    bare = tmp_path / "bare"
    bare.mkdir()
    made = project.ensure_identity(bare)
    assert stat.S_IMODE((bare / ".kittify" / "config.yaml").stat().st_mode) == 0o600
    assert made.slug == "bare"


@pytest.mark.parametrize("text", ["- a\n- list\n", "project: [1, 2\n", "project:\n  uuid: not-a-uuid\n"])
def test_given_a_config_that_cannot_be_understood_then_nothing_is_written(tmp_path: Path, text: str) -> None:
    root = repo_with(tmp_path, text)
    with pytest.raises(project.IdentityError, match="nothing was written"):
        project.ensure_identity(root)
    assert (root / ".kittify" / "config.yaml").read_text() == text


def test_the_lamport_clock_hands_out_each_value_once_in_spec_kittys_file(home: Path) -> None:
    assert project.reserve_clock(3, "abc") == 1
    assert project.reserve_clock(2, "abc") == 4
    data = json.loads((home / "clock.json").read_text())
    assert (data["value"], data["node_id"], sorted(data)) == (5, "abc", ["node_id", "updated_at", "value"])
    # spec-kitty ticked meanwhile (its tick only raises the value): we continue above it
    (home / "clock.json").write_text(json.dumps({"value": 40, "node_id": "abc", "updated_at": "x"}))
    assert project.reserve_clock(1, "abc") == 41
    (home / "clock.json").write_text("{torn")
    assert project.reserve_clock(1, "abc") == 1  # as spec-kitty's own loader: a torn file starts again
