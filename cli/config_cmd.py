"""``spec-kitty config get|set|unset|list`` over ~/.spec-kitty/config.toml."""

from __future__ import annotations

import json
from typing import Any

import click

from orchestrator.errors import ConfigError
from orchestrator.home import config as cfg
from orchestrator.home import paths
from states import catalog


def _keys_help() -> str:
    """The known keys, one per line, for ``config set --help`` (click keeps ``\\b`` paragraphs as written)."""
    lines = ["\b", "Keys:"]
    for key in cfg.KNOWN_KEYS.values():
        default = f" (default: {key.default})" if key.default != "" else ""
        env = f"; env {key.env} overrides it" if key.env else ""
        lines.append(f"  {key.name}  {key.help}{default}{env}")
    return "\n".join(lines)


@click.group(epilog="\b\nExamples:\n  spec-kitty config list\n  spec-kitty config list --json")
def config() -> None:
    """Read and change ~/.spec-kitty/config.toml (comments and unknown keys are kept)."""


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _where(found: cfg.Effective) -> str:
    if found.source == "env":
        return catalog.CONFIG_SOURCE_ENV.format(var=found.env)
    if found.source == "file":
        return catalog.CONFIG_SOURCE_FILE.format(path=paths.config_file())
    return catalog.CONFIG_SOURCE_DEFAULT


@config.command("get", epilog="\b\nExamples:\n  spec-kitty config get sync.background_daemon\n"
                              "  spec-kitty config get sync.server_url --json")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print {key, value, source} as JSON.")
def get(key: str, as_json: bool) -> None:
    """Print the effective value of KEY on stdout and where it came from (default, the file, or an
    environment variable) on stderr; exit 1 when it is not set and has no default."""
    found = cfg.effective(key)
    if found.value is None:
        raise ConfigError(catalog.CONFIG_NOT_SET.format(key=key, path=paths.config_file()))
    if as_json:
        click.echo(json.dumps({"key": key, "value": found.value, "source": found.source}))
        return
    click.echo(_show(found.value))
    click.echo(catalog.CONFIG_FROM.format(source=_where(found)), err=True)


@config.command("set", epilog=_keys_help() + "\n\n\b\nExamples:\n  spec-kitty config set sync.server_url "
                "https://spec-kitty-dev.fly.dev\n  spec-kitty config set sync.background_daemon manual")
@click.argument("key")
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE (validated; written atomically under a lock)."""
    cfg.set_value(key, value)


@config.command("unset", epilog="\b\nExamples:\n  spec-kitty config unset sync.background_daemon")
@click.argument("key")
def unset(key: str) -> None:
    """Remove KEY (no error if it was not set); it falls back to its default."""
    cfg.unset_value(key)


@config.command("list", epilog="\b\nExamples:\n  spec-kitty config list\n  spec-kitty config list --json")
@click.option("--json", "as_json", is_flag=True, help="Print {key: {value, source}} as JSON.")
def list_(as_json: bool) -> None:
    """Print every key set in the file (unknown keys included: they are the operator's), then the known
    keys' defaults; a key an environment variable overrides shows that value and the variable."""
    data = cfg.read_config()
    rows: dict[str, cfg.Effective] = {key: cfg.Effective(value, "file") for key, value in cfg.flatten(data)}
    for name in cfg.KNOWN_KEYS:
        found = cfg.effective(name, data)
        if found.value is not None and (name not in rows or found.source == "env"):
            rows[name] = found
    if as_json:
        click.echo(json.dumps({key: {"value": found.value, "source": found.source} for key, found in rows.items()},
                              indent=2))
        return
    for key, found in rows.items():
        shown = _show(found.value)
        if found.source == "default":
            click.echo(catalog.CONFIG_LIST_DEFAULT.format(key=key, value=shown))
        elif found.source == "env":
            click.echo(catalog.CONFIG_LIST_ENV.format(key=key, value=shown, var=found.env))
        else:
            click.echo(catalog.CONFIG_LINE.format(key=key, value=shown))
