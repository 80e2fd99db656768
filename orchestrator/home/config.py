"""``~/.spec-kitty/config.toml``: fast reads with tomllib, comment-preserving writes with tomlkit.

Writes follow Poetry's file config source: read the document, change only the leaf key, write it
back (temp file + rename, under an inter-process lock). Replacing whole tables would drop the
operator's comments and unknown keys.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import ConfigError
from orchestrator.home import paths
from orchestrator.home.fsutil import atomic_write_text, interprocess_lock, read_small
from states import catalog

DEFAULT_HOST = "https://spec-kitty-dev.fly.dev"
DEFAULT_IDLE_SECONDS = 900


def validate_url(value: str) -> str | int:
    """http(s) URL without credentials; plain http only for loopback; empty means "no host"."""
    from urllib.parse import urlsplit

    value = value.strip()
    if value == "":
        return ""
    if "@" in value:  # checked first (a base URL has no other use for "@"): never echo a secret back
        raise ConfigError(catalog.URL_HAS_CREDENTIALS)
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
        hostname, _ = parts.hostname, parts.port  # both raise ValueError on a malformed host or port
    except ValueError:
        raise ConfigError(catalog.URL_NOT_HTTP.format(url=shown)) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigError(catalog.URL_NOT_HTTP.format(url=shown))
    if parts.query or parts.fragment:
        raise ConfigError(catalog.URL_HAS_QUERY.format(url=shown))
    if parts.scheme == "http" and not is_loopback(hostname):
        raise ConfigError(catalog.URL_PLAIN_HTTP.format(host=hostname))
    if parts.port == 0 or parts.netloc.endswith(":"):
        raise ConfigError(catalog.URL_BAD_PORT.format(url=shown))
    return value.rstrip("/")


def validate_source(value: str, source: str) -> str:
    """``validate_url`` for a host read from ``source`` (env, config.toml, a binding, a session): the
    same rules wherever a URL comes from, and a one-line error that names where to fix it."""
    try:
        return str(validate_url(value))
    except ConfigError as error:
        raise ConfigError(catalog.URL_FROM_SOURCE.format(source=source, error=error)) from None


def redact_url(value: str) -> str:
    """``value`` without user info, query or fragment: the parts that may carry a secret."""
    from urllib.parse import urlsplit

    plain = value.split("?")[0].split("#")[0]
    try:
        parts = urlsplit(value)
    except ValueError:  # a malformed host: show it without query or fragment
        return plain.rpartition("@")[2] + ("?…" if plain != value else "")
    hidden = "?…" if parts.query or parts.fragment else ""
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else plain
    return base.rpartition("@")[2] + hidden


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_policy(value: str) -> str | int:
    value = value.strip()
    if value not in ("auto", "manual"):
        raise ConfigError(catalog.NOT_A_DAEMON_POLICY.format(value=value))
    return value


def validate_seconds(value: str) -> str | int:
    if not re.fullmatch(r"[0-9]{1,7}", value.strip()) or int(value) < 5:
        raise ConfigError(catalog.NOT_IDLE_SECONDS.format(value=value))
    return int(value)


class Key(NamedTuple):  # not a dataclass: `config` commands pay for whatever is defined at import
    """A known configuration key: its validator, what it means, its default and the variable that overrides it."""

    name: str
    validate: Callable[[str], str | int]
    help: str
    default: str | int = ""  # "" : no default (the key is then "not set")
    env: str | None = None


KNOWN_KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("sync.server_url", validate_url, "SaaS host URL (empty: no host)", env=catalog.SAAS_URL_ENV_VAR),
        Key("sync.background_daemon", validate_policy, "auto | manual", "auto"),
        Key("sync.daemon_idle_seconds", validate_seconds, "seconds an idle daemon waits before it exits (5 or more)",
            DEFAULT_IDLE_SECONDS),
    )
}


def known_key(name: str) -> Key:
    try:
        return KNOWN_KEYS[name]
    except KeyError:
        raise ConfigError(catalog.CONFIG_UNKNOWN_KEY.format(key=name, keys=", ".join(KNOWN_KEYS))) from None


def read_toml(path: Path, *, strict: bool = False) -> dict[str, Any]:
    """Parse a TOML file; absent means empty; corrupt raises a one-line error naming file and line.

    A file that is not a small regular one (a link, a FIFO, a device, over 1 MiB) is never read: it
    counts as absent, with one warning on stderr per file and process, unless ``strict`` (a writer about
    to replace it), which refuses it in one line instead."""
    from orchestrator.home.fsutil import FileRefused, read_small

    try:
        data = read_small(path)
    except FileNotFoundError:
        return {}
    except FileRefused as refused:
        if strict:
            raise ConfigError(refused.line.removeprefix("warning: ")) from None
        _warn_once(refused.line)
        return {}
    except OSError as exc:
        raise ConfigError(catalog.CONFIG_UNREADABLE.format(path=path, reason=exc.strerror)) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(catalog.CONFIG_NOT_UTF8.format(path=path)) from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f":{match.group(1)}" if match else ""
        reason = re.sub(r"\s*\(at .*\)$", "", str(exc))
        raise ConfigError(catalog.CONFIG_INVALID_TOML.format(path=path, where=where, reason=reason)) from None


_warned: set[str] = set()


def _warn_once(line: str) -> None:
    """One stderr line per refused file and process (facts and config commands may read a file twice)."""
    if line not in _warned:
        _warned.add(line)
        import sys

        print(line, file=sys.stderr)


def read_config() -> dict[str, Any]:
    return read_toml(paths.config_file())


def lookup(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_valid(data: dict[str, Any], name: str, default: str | int) -> str | int:
    """The value of a known key as ``config set`` would have stored it (its validator applied), ``default``
    when unset; a value the validator refuses raises one line naming the key and the file."""
    value = lookup(data, name)
    if value is None:
        return default
    try:
        return known_key(name).validate(str(value))
    except ConfigError as error:
        raise ConfigError(catalog.CONFIG_BAD_VALUE.format(path=paths.config_file(), key=name, error=error)) from None


def get(name: str) -> Any:
    known_key(name)
    return lookup(read_config(), name)


class Effective(NamedTuple):
    """A key's value as commands see it, and where it came from: ``default``, ``file`` or ``env``."""

    value: Any
    source: str
    env: str | None = None  # the variable, when ``source`` is ``env``


def effective(name: str, data: dict[str, Any] | None = None, env: Any = None) -> Effective:
    """The value commands use for a known key: its variable (``SPEC_KITTY_SAAS_URL``) when set, else the
    file's value, else the default (``Effective(None, "default")`` when the key has none)."""
    import os

    key = known_key(name)
    environ = os.environ if env is None else env
    if key.env and str(environ.get(key.env, "")).strip():
        return Effective(str(environ[key.env]).strip(), "env", key.env)
    value = lookup(read_config() if data is None else data, name)
    if value is not None:
        return Effective(value, "file")
    return Effective(key.default if key.default != "" else None, "default")


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf keys in file order, dotted (unknown keys included: they belong to the operator)."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(flatten(value, dotted + "."))
        else:
            out.append((dotted, value))
    return out


def edit_document(path: Path, change: Callable[[Any], bool], *, mode: int = 0o600) -> None:
    """Apply ``change`` to the tomlkit document under the lock; write only if it changed something."""
    import tomlkit

    with interprocess_lock(paths.lock_file_for(path)):
        read_toml(path, strict=True)  # refuse (and never overwrite) a corrupt or hostile file, with file and line
        text = read_small(path).decode("utf-8") if path.exists() else ""
        doc = tomlkit.parse(text)
        if change(doc):
            atomic_write_text(path, tomlkit.dumps(doc), mode=mode)


def set_value(name: str, raw: str, path: Path | None = None) -> None:
    value = known_key(name).validate(raw)
    set_raw(name, value, path)


def set_raw(name: str, value: Any, path: Path | None = None) -> None:
    """Set a leaf key (creating tables as needed) without touching anything else in the file."""
    import tomlkit

    def change(doc: Any) -> bool:
        *tables, leaf = name.split(".")
        node = doc
        for part in tables:
            if part not in node:
                node[part] = tomlkit.table()
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(catalog.CONFIG_NOT_A_TABLE.format(table=part, path=path or paths.config_file()))
        node[leaf] = value
        return True

    edit_document(path or paths.config_file(), change)


def unset_value(name: str, path: Path | None = None) -> bool:
    """Remove a leaf key; returns whether it was present (unset is idempotent)."""
    known_key(name)
    removed = False

    def change(doc: Any) -> bool:
        nonlocal removed
        *tables, leaf = name.split(".")
        node = doc
        for part in tables:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        if isinstance(node, dict) and leaf in node:
            del node[leaf]
            removed = True
        return removed

    target = path or paths.config_file()
    if target.exists():
        edit_document(target, change)
    return removed
