"""Stealth guard: put this folder on PYTHONPATH and every Python process records what it does.

Installed with ``sys.addaudithook`` at interpreter start (``site`` imports ``sitecustomize``), it appends
one JSON line per suspicious audit event to the file named by ``SK_GUARD_RECORD`` (which must live
outside the guarded folders):

- ``network``: every ``socket.*`` event (``socket.__new__``, ``socket.connect``, ``socket.bind``,
  ``socket.getaddrinfo``, ...) and the stdlib's higher-level connect events (http.client, urllib, ...);
- ``process``: ``subprocess.Popen``, ``os.posix_spawn``, ``os.fork``, ``os.exec``, ``os.spawn``,
  ``os.system``, ``os.kill``, ...;
- ``write``: an ``open`` for writing (a mode with ``w``/``a``/``x``/``+`` or flags with
  ``O_WRONLY``/``O_RDWR``/``O_CREAT``/``O_APPEND``/``O_TRUNC``) and every ``os.mkdir``/``os.rename``/
  ``os.remove``/``os.rmdir``/``os.chmod``/... whose path lies under one of the folders listed in
  ``SK_GUARD_DIRS`` (``os.pathsep``-separated);
- ``store``: ``sqlite3.connect`` anywhere.

With ``SK_GUARD_MODULES`` set, the sorted names in ``sys.modules`` are written there at exit, one per
line, so a test can pin what a command imported.

The guard imports nothing beyond what ``site`` already loaded (``sys``, ``os``; ``atexit`` is built in)
so it cannot change the module set it reports. An existing ``sitecustomize`` elsewhere on ``sys.path``
is still run (this one shadows it by being first on PYTHONPATH).
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain_existing_sitecustomize() -> None:
    for entry in sys.path[:]:
        folder = os.path.abspath(entry or os.getcwd())
        if folder == _HERE:
            continue
        for candidate in (os.path.join(folder, "sitecustomize.py"),
                          os.path.join(folder, "sitecustomize", "__init__.py")):
            if os.path.isfile(candidate):
                import importlib.util

                spec = importlib.util.spec_from_file_location("sitecustomize", candidate)
                if spec is None or spec.loader is None:  # pragma: no cover - defensive
                    return
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return


_chain_existing_sitecustomize()

_NETWORK_EVENTS = frozenset({
    "http.client.connect", "http.client.send", "urllib.Request", "ftplib.connect", "smtplib.connect",
    "poplib.connect", "imaplib.open", "nntplib.connect", "telnetlib.Telnet.open", "webbrowser.open",
})
_PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec", "os.spawn", "os.system",
    "os.startfile", "os.kill", "os.killpg", "pty.spawn",
})
_FS_EVENTS = frozenset({
    "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.chmod", "os.chown", "os.link", "os.symlink",
    "os.truncate", "os.utime", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr", "os.chflags",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move",
    "shutil.rmtree", "shutil.chown",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _json_str(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def _json(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_json_str(str(k)) + ":" + _json(v) for k, v in value.items()) + "}"
    return _json_str(repr(value))


def _install(record_path: str) -> None:
    record_fd = os.open(record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    guarded = tuple(
        os.path.realpath(d) for d in os.environ.get("SK_GUARD_DIRS", "").split(os.pathsep) if d.strip()
    )
    busy = [False]

    def resolve(value: object) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return os.readlink(f"/proc/self/fd/{value}")
            except OSError:
                return None
        if hasattr(value, "__fspath__"):
            value = value.__fspath__()
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if not isinstance(value, str):
            return None
        return os.path.realpath(os.path.abspath(value))

    def guarded_paths(args: tuple) -> list[str]:
        found = []
        for arg in args:
            if isinstance(arg, (str, bytes, int)) or hasattr(arg, "__fspath__"):
                path = resolve(arg)
                if path and any(path == d or path.startswith(d + os.sep) for d in guarded):
                    found.append(path)
        return found

    def emit(kind: str, event: str, args: tuple, paths: list[str]) -> None:
        line = _json({
            "kind": kind,
            "event": event,
            "path": paths[0] if paths else None,
            "paths": paths,
            "args": [repr(a) for a in args],
            "pid": os.getpid(),
            "argv": list(sys.argv),
        })
        os.write(record_fd, (line + "\n").encode("ascii"))

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            if event.startswith("socket.") or event in _NETWORK_EVENTS:
                emit("network", event, args, [])
            elif event in _PROCESS_EVENTS:
                emit("process", event, args, [])
            elif event == "sqlite3.connect":
                emit("store", event, args, [])
            elif event == "open" and guarded:
                path, mode, flags = (*args, None, None, None)[:3]
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
                where = guarded_paths((path,)) if writing else []
                if where:
                    emit("write", event, args, where)
            elif event in _FS_EVENTS and guarded:
                where = guarded_paths(tuple(args))
                if where:
                    emit("write", event, args, where)
        except Exception as exc:  # noqa: BLE001 - a guard bug must be visible, never silently swallow events
            os.write(record_fd, (_json({"kind": "guard-error", "event": event, "error": repr(exc)}) + "\n")
                     .encode("ascii"))
        finally:
            busy[0] = False

    sys.addaudithook(hook)


def _install_module_dump(dump_path: str) -> None:
    import atexit  # built in: adds no Python module to the set being reported

    def dump() -> None:
        names = "".join(name + "\n" for name in sorted(sys.modules))
        fd = os.open(dump_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, names.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)

    atexit.register(dump)


if os.environ.get("SK_GUARD_RECORD"):
    _install(os.environ["SK_GUARD_RECORD"])
if os.environ.get("SK_GUARD_MODULES"):
    _install_module_dump(os.environ["SK_GUARD_MODULES"])
