"""Operator output calls a mission a "mission": "feature" survives only in the quickstart's Unbound line.

Given every sentence in the catalog and the ``--help`` of every command (hosted ones included), then
none says "feature", except ``No tracker binding exists for feature `<slug>`.``, which the quickstart
pins byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from cli.main import cli
from states import catalog

KEPT = "No tracker binding exists for feature `{slug}`."


def sentences(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from sentences(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from sentences(item)


def helps(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, str]]:
    yield ctx.command_path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                yield from helps(sub, click.Context(sub, info_name=name, parent=ctx))


def test_the_catalog_says_mission_except_in_the_unbound_sentence() -> None:
    found = [text for name, value in vars(catalog).items() if name.isupper() for text in sentences(value)
             if "feature" in text.casefold()]
    assert found == [KEPT]
    assert catalog.UNBOUND.message == KEPT


def test_no_help_text_says_feature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(catalog.SAAS_SYNC_ENV_VAR, "1")
    pages = dict(helps(cli, click.Context(cli, info_name="spec-kitty")))
    assert "spec-kitty sync" in pages
    assert "spec-kitty tracker bind" in pages
    assert [path for path, text in pages.items() if "feature" in text.casefold()] == []
