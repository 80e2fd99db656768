"""The quickstart in docs/ is the one the demo walks: its quoted outputs are the catalog's, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from states import catalog

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "docs" / "quickstart.md"


def quoted_outputs() -> list[str]:
    return re.findall(r"```text\n(.*?)\n```", QUICKSTART.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("failure", [catalog.UNAUTHED.render(), catalog.NO_HOST.render(),
                                     catalog.UNBOUND.render().format(slug="empty-repo"),
                                     catalog.DAEMON_MANUAL.render()])
def test_every_failure_the_walkthrough_shows_is_quoted_exactly(failure: str) -> None:
    assert failure in quoted_outputs()


def test_the_readme_points_at_the_quickstart_in_this_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]*quickstart[^)]*)\)", readme)
    assert links, links
    assert all((ROOT / link).is_file() for link in links), links
