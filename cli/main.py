"""The ``spec-kitty`` entry point: a click group whose commands exist only when the machine says so.

Modelled on Flask's ``FlaskGroup`` (``list_commands``/``get_command`` decide what exists) and pip's
command table (``--help`` never imports a command module). Hosted groups are hidden from help and
completion *and* refused by ``get_command`` while the rollout flag is off, so ``spec-kitty tracker``
fails exactly like a command that does not exist, and no hosted module is ever imported.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

import click

from cli.gate import as_error, ask
from orchestrator import __version__
from orchestrator.context import Context
from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog
from states.catalog import ExitCode
from states.facts import LOCAL, Need
from states.machine import UNAUTHED


class Entry(NamedTuple):  # not a dataclass: cheaper to define on the start-up path
    """A top-level command: where it lives, its one-line summary, and what it needs to exist."""

    target: str  # "module:attribute"
    summary: str
    need: Need = LOCAL


HOSTED = Need(hosted=True, state=UNAUTHED)  # hosted groups exist once the rollout flag is on

COMMANDS: dict[str, Entry] = {
    "status": Entry("cli.local:status", "Show the local mission status."),
    "wp": Entry("cli.local:wp", "Move work packages between lanes."),
    "config": Entry("cli.config_cmd:config", "Read and change ~/.spec-kitty/config.toml."),
    "auth": Entry("cli.hosted.auth:auth", "Log in to the hosted SaaS.", HOSTED),
    "tracker": Entry("cli.hosted.tracker:tracker", "Hosted SaaS tracker commands.", HOSTED),
    "sync": Entry("cli.hosted.sync:sync", "Hosted SaaS sync commands.", HOSTED),
}


class SpecKittyGroup(click.Group):
    """Commands come from the table; hosted ones exist only when the readiness machine allows."""

    def _exists(self, ctx: click.Context, name: str) -> bool:
        entry = COMMANDS.get(name)
        if entry is None:
            return False
        if not entry.need.hosted:
            return True
        ctx.ensure_object(Context)  # `--help` and completion ask before the group's callback ran
        with ctx.scope(cleanup=False):
            return ask(entry.need).proceed

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._exists(ctx, name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if not self._exists(ctx, cmd_name):
            return None
        module_name, attribute = COMMANDS[cmd_name].target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List summaries from the table so ``--help`` imports no command module."""
        rows = [(name, COMMANDS[name].summary) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``--debug`` anywhere before ``--`` (``spec-kitty status --debug`` too) is the group's option."""
        cut = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:cut]:
            args = ["--debug", *(a for a in args[:cut] if a != "--debug"), *args[cut:]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        """Turn typed errors into one line (or catalog wording) and an exit code: no tracebacks. Ctrl-C
        (click's ``Abort`` at a prompt) is an answer too: what is still queued, exit 130."""
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.exceptions.Abort):
            interrupted()
        except BrokenPipeError:
            broken_pipe()
        except CatalogFailure as failure:
            click.echo(failure.failure.render())
            ctx.exit(int(failure.exit_code))
        except (SpecKittyError, OSError) as problem:  # an OS error names a file the operator must fix
            error = as_error(problem)
            click.echo(catalog.ERROR_LINE.format(error=error), err=True)
            ctx.exit(int(error.exit_code))


@click.group(cls=SpecKittyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="\b\nExamples:\n  spec-kitty status\n  spec-kitty wp move WP01 --to claimed\n"
                    "  spec-kitty config list\n\nA guide from nothing: docs/getting-started.md in this project's "
                    "repository.")
@click.version_option(__version__, "--version", prog_name="spec-kitty", message=catalog.VERSION_LINE)
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Spec Kitty: local mission status and work-package lanes."""
    ctx.ensure_object(Context).debug = debug


def kill_switch(context: Context) -> None:
    """The rollout flag is a kill switch: a daemon of this home still alive after the flag went off is
    ended by signal. Whether the flag is on is the machine's answer to ``HOSTED`` (the question the
    hosted groups ask; it reads the flag alone, so a broken config.toml cannot break every command while
    a daemon runs); it is asked only when a daemon lock exists, so the usual cost is a single ``stat``
    and ``--help`` stays cheap. The lock's holder is read from the OS: no socket is opened and nothing
    is written here."""
    from orchestrator.home.paths import daemon_lock_file

    try:
        os.stat(daemon_lock_file())
    except (OSError, SpecKittyError):  # no lock, or a home we refuse to trust: nothing to end from here
        return
    from states.machine import settle

    if settle(context.facts(), HOSTED).proceed:
        return  # the flag is on: the daemon's own tick applies the disable switch and the policy
    import contextlib
    import signal

    from orchestrator.daemon.life import look
    from orchestrator.daemon.state import UNKNOWN_HOLDER
    from states.daemon_life import HELD, OWNER_Q

    seen = look(OWNER_Q)  # spec-kitty's daemon is never ours to signal
    holder = seen.facts.holder
    if seen.state == HELD and holder is not None and holder not in (UNKNOWN_HOLDER, os.getpid()):
        with contextlib.suppress(OSError):  # it exited meanwhile, or is not ours to signal
            os.kill(holder, signal.SIGTERM)


def interrupted() -> NoReturn:
    """Ctrl-C during any command: one line saying how many events still wait in the queue (rows and
    checkpoints commit together, so whatever a sync had not acknowledged is still there), exit 130."""
    click.echo(catalog.INTERRUPTED_NOTHING_QUEUED if (count := _queued()) is None
               else catalog.INTERRUPTED.format(count=count), err=True)
    sys.exit(int(ExitCode.INTERRUPTED))


def broken_pipe() -> NoReturn:
    """The reader of stdout went away (``spec-kitty status | head -1``): stop quietly, as Unix tools do
    (exit 141, what a shell reports for a tool ended by SIGPIPE). Stdout is pointed at /dev/null first, so
    the interpreter's own flush at exit finds nothing to complain about."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no stdout to redirect: exiting is all that is left
        pass
    sys.exit(int(ExitCode.BROKEN_PIPE))


def _queued() -> int | None:
    """Events waiting in the queue file, or None when there is none (or it cannot be read right now)."""
    try:
        from orchestrator.home.paths import queue_file

        path = queue_file()
        if not path.exists():
            return None
        from orchestrator.sync.queue import EventQueue

        with EventQueue(path, busy_timeout=1.0) as queue:
            return queue.count()
    except Exception:  # noqa: BLE001 - an answer to Ctrl-C must never turn into another error
        return None


def main(args: Sequence[str] | None = None, *, context: Context | None = None) -> None:
    """Console-script entry: the last guard against a traceback reaching an operator.

    ``args`` default to ``sys.argv[1:]`` and ``context`` to this process's world; a test passes both to run
    a command in-process exactly as the console script would (same exit codes, same last-resort line)."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        context = context or Context()  # the one context of this invocation: every command and fact reads it
        kill_switch(context)
        cli.main(args=argv, prog_name="spec-kitty", obj=context)
    except KeyboardInterrupt:  # outside a command (start-up)
        interrupted()
    except BrokenPipeError:  # help or usage text into a closed pipe
        broken_pipe()
    except Exception as exc:  # an unexpected bug: one line, unless asked for details
        if "--debug" in argv or (context.env if context else os.environ).get("SPEC_KITTY_DEBUG"):
            raise
        click.echo(catalog.UNEXPECTED_ERROR.format(kind=type(exc).__name__, error=exc), err=True)
        sys.exit(int(ExitCode.FAILURE))


if __name__ == "__main__":
    main()
