"""The committed ``diagrams/`` is the machine the CLI runs, drawn by ``python -m devsaas.diagrams``.

Given the tables in ``states/machine.py`` and the wording in ``states/catalog/``, when the generator
runs, then it writes the same bytes as are committed; a reviewer can trust the picture.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devsaas import diagrams
from states import catalog
from states.diagram import effective_guards, labelled_transitions, machine_digest, mermaid
from states.machine import OUTCOMES, PREREQUISITES, STATES, TRANSITIONS

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "diagrams"
HAVE_GRAPHVIZ = diagrams.graphviz_available()


def test_committed_diagrams_are_current() -> None:
    problems, _ = diagrams.check(COMMITTED)
    assert problems == [], "\n".join([*problems, "Run `python -m devsaas.diagrams` and commit diagrams/."])


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    diagrams.generate(first)
    diagrams.generate(second)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_check_notices_a_diagram_that_no_longer_matches_the_machine(tmp_path: Path) -> None:
    diagrams.generate(tmp_path)
    if not (tmp_path / diagrams.SVG_FILE).exists():  # no Graphviz here: the committed SVG stands in
        (tmp_path / diagrams.SVG_FILE).write_bytes((COMMITTED / diagrams.SVG_FILE).read_bytes())
    assert diagrams.check(tmp_path)[0] == []
    mmd = tmp_path / diagrams.MERMAID_FILE
    mmd.write_text(mmd.read_text().replace("advance [has_token]", "advance [has_host]"))
    assert diagrams.check(tmp_path)[0] == [f"{mmd}: out of date"]


def test_svg_staleness_is_judged_by_the_machine_it_shows_even_without_graphviz() -> None:
    committed = (COMMITTED / diagrams.SVG_FILE).read_text(encoding="utf-8")
    assert diagrams.svg_machine_digest(committed) == machine_digest()
    stale = committed.replace(machine_digest(), "0" * 64)
    assert diagrams.compare_svg(stale, None) == "drawn from a different machine"
    assert diagrams.compare_svg(None, None) == "missing"
    assert diagrams.compare_svg(committed, None) is None


@pytest.mark.skipif(not HAVE_GRAPHVIZ, reason="Graphviz (`dot`) is not installed")
def test_svg_is_drawn_by_dot_with_the_current_state_highlighted() -> None:
    svg = diagrams.render_svg("NoHost")
    assert svg.startswith("<?xml")
    assert diagrams.svg_machine_digest(svg) == machine_digest("NoHost") != machine_digest()
    node = svg[svg.index("<title>NoHost</title>"):]
    assert "darksalmon" in node[: node.index("</g>")]


def test_every_state_and_every_transition_is_drawn_with_its_trigger_and_facts() -> None:
    text = mermaid()
    for state in STATES:
        assert f" as {state}\n" in text  # a composite's child is drawn under its short name
    for row in labelled_transitions():
        assert row["label"].startswith(row["trigger"])
        assert row["label"] in text
    assert "[*] --> Disabled" in text


def test_edge_labels_fold_in_the_guards_of_earlier_rows_of_the_same_trigger() -> None:
    by_dest = {row["dest"]: guard for row, guard in zip(TRANSITIONS, effective_guards(), strict=True)
               if row["trigger"] == "dispatch"}
    assert by_dest["Daemon_off"] == ["sync_disabled"]
    assert by_dest["Daemon_manual"] == ["not sync_disabled", "policy_manual"]
    assert by_dest["Daemon_auto"] == ["not sync_disabled", "not policy_manual"]


def test_highlight_marks_only_the_current_state() -> None:
    text = mermaid("Unbound")
    assert "Class Unbound s_active" in text
    assert text.count("s_active\n") == 1  # the one Class line (the classDef line ends in its style)
    assert "s_active" not in mermaid().replace("classDef s_active", "")
    with pytest.raises(ValueError, match="unknown state"):
        mermaid("Nowhere")


def test_readme_embeds_the_mermaid_and_quotes_the_catalog() -> None:
    readme = (COMMITTED / diagrams.README_FILE).read_text(encoding="utf-8")
    assert f"```mermaid\n{(COMMITTED / diagrams.MERMAID_FILE).read_text(encoding='utf-8')}```" in readme
    for state in STATES:
        assert f"### {state}\n\n{catalog.STATE_NOTES[state]}\n" in readme
    for failure in OUTCOMES.values():
        assert diagrams.code(failure.message.format(slug="<slug>", url="<url>")) in readme
        assert diagrams.code(failure.next_action) in readme
    for step in PREREQUISITES:
        assert f"| `{step.state}` | `{step.fact}` | {step.label} |" in readme


def test_generator_without_graphviz_still_writes_mermaid_and_says_how_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv's bin: no `dot`
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "devsaas.diagrams", "--out", str(out)],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "daemon.mmd", "lanes.mmd", "readiness.mmd"]
    assert catalog.DIAGRAM_NEEDS_GRAPHVIZ in done.stderr
    assert (out / "readiness.mmd").read_text() == mermaid()


def test_check_command_exits_1_on_a_stale_folder(tmp_path: Path) -> None:
    diagrams.generate(tmp_path)
    (tmp_path / diagrams.README_FILE).write_text("hand-edited\n")
    done = subprocess.run([sys.executable, "-m", "devsaas.diagrams", "--check", "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert f"{tmp_path / diagrams.README_FILE}: out of date" in done.stdout
    assert "Run `python -m devsaas.diagrams` and commit the result." in done.stdout


@pytest.mark.parametrize("module", ["states.diagram", "states.explain", "cli.hosted.explain", "cli.main"])
def test_drawing_code_is_not_loaded_until_a_diagram_is_drawn(module: str) -> None:
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.startswith(('transitions.extensions', 'asyncio', "
            "'graphviz'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_top_level_readme_shows_the_current_diagram() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert (COMMITTED / diagrams.MERMAID_FILE).read_text(encoding="utf-8").rstrip("\n") in readme, (
        "README.md embeds an outdated diagram: paste diagrams/readiness.mmd into its ```mermaid block.")
