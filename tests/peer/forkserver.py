"""Run by the reference venv's python, never imported by the suite: one fresh process per command, warm.

A ``spec-kitty`` run of the reference client spends seconds importing its ~1500 modules before it does
anything; the peer tier runs it dozens of times. This server imports and assembles its CLI once, then
for each request (one JSON line on stdin: ``argv``, ``cwd``, ``env``, ``out``, ``err`` file paths) forks a
child that is that command's process: its own working directory, environment, stdin from /dev/null,
stdout and stderr into the given files, ``sys.argv`` as its console script sets it, ``main()`` as its
console script calls it, exit handlers run, the exit code as Python's own ``sys.exit`` would make it.
The server answers with one line: the exit code. Only the import time is shared, never state a command
leaves behind (each child's memory dies with it; ``random`` is reseeded after every fork by Python).
"""

import atexit
import contextlib
import json
import os
import sys
import traceback


def child(request: dict) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if request["err"] else out
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    sys.argv = [request["script"], *request["argv"]]
    code = 0
    try:
        import specify_cli

        specify_cli.main()
    except SystemExit as done:
        if done.code is None:
            code = 0
        elif isinstance(done.code, int):
            code = done.code
        else:
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - the command crashed: print its traceback, as its process would
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


def serve() -> None:
    import specify_cli

    specify_cli._assemble_app()  # the imports and app registration every command does first
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(child(request))
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
