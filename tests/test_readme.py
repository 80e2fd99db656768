"""The README stays a front door: two set-up commands, every command in its table, links that lead somewhere.

Reference material lives in ``docs/``; these checks keep the README from drifting away from the installed
``spec-kitty`` (a command added without a line, a line left for a command removed) and keep every
relative link in the README and ``docs/`` pointing at a file of this repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support.cli import SPEC_KITTY, operator_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def subcommands(words: list[str], env: dict[str, str]) -> list[str]:
    """The names under ``Commands:`` in ``spec-kitty <words> --help`` (none for a leaf command)."""
    done = subprocess.run([str(SPEC_KITTY), *words, "--help"], env=env, capture_output=True, text=True,
                          check=True)
    section = done.stdout.partition("\nCommands:\n")[2].partition("\n\n")[0]
    return [line.split()[0] for line in section.splitlines() if line.strip()]


def leaf_commands(words: list[str], env: dict[str, str]) -> list[str]:
    """Every runnable command under ``spec-kitty <words>``, as the words an operator types."""
    names = subcommands(words, env)
    if not names:
        return [" ".join(["spec-kitty", *words])]
    return [leaf for name in names for leaf in leaf_commands([*words, name], env)]


def test_the_readme_has_exactly_two_set_up_commands() -> None:
    assert len(re.findall(r"^```bash\n", README.read_text(encoding="utf-8"), flags=re.M)) == 2


def test_the_command_table_names_every_command_the_flag_on_machine_has(tmp_path: Path) -> None:
    env = operator_env(home=tmp_path / "home", env_extra={"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"})
    installed = set(leaf_commands([], env))
    table = README.read_text(encoding="utf-8").partition("## Commands")[2].partition("\n## ")[0]
    listed = {re.sub(r" [A-Z_.]+\b.*", "", cell) for cell in re.findall(r"^\| `(spec-kitty [^`]*)` \|", table,
                                                                          flags=re.M)}
    assert installed <= listed, sorted(installed - listed)
    assert {c for c in listed - installed if not c.startswith(("spec-kitty-dev-saas", "spec-kitty --"))} == set()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    missing = [t for t in targets if t and not (document.parent / t).exists()]
    assert missing == [], missing
