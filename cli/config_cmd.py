"""``spec-kitty config get|set|unset|list`` over ~/.spec-kitty/config.toml."""

from __future__ import annotations

from typing import Any

import click

from orchestrator import config as cfg
from orchestrator import paths
from orchestrator.errors import ConfigError
from states import catalog


@click.group()
def config() -> None:
    """Read and change ~/.spec-kitty/config.toml (comments and unknown keys are kept)."""


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@config.command("get")
@click.argument("key")
def get(key: str) -> None:
    """Print the value of KEY (exit 1 when it is not set)."""
    value = cfg.get(key)
    if value is None:
        raise ConfigError(catalog.CONFIG_NOT_SET.format(key=key, path=paths.config_file()))
    click.echo(_show(value))


@config.command("set")
@click.argument("key")
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE (validated; written atomically under a lock)."""
    cfg.set_value(key, value)


@config.command("unset")
@click.argument("key")
def unset(key: str) -> None:
    """Remove KEY (no error if it was not set)."""
    cfg.unset_value(key)


@config.command("list")
def list_() -> None:
    """Print every key set in the file (unknown keys included: they are the operator's)."""
    for key, value in cfg.flatten(cfg.read_config()):
        click.echo(catalog.CONFIG_LINE.format(key=key, value=_show(value)))
