"""Every operator-facing sentence and exit code, in one place: ``from states import catalog; catalog.X``.

Wording and exit codes are a contract with operators and their scripts: tests assert these strings
byte for byte, so a change here is a deliberate, reviewable change of that contract. The sentences
live in one module per concern and are all re-exported here, so callers never name the module:

- ``base``      — ``ExitCode``, ``Failure``, the environment variables and the login action.
- ``readiness`` — the readiness machine's failures per state, the host's refusals, what each state
  means and the machine's contract as ``diagrams/README.md`` words it.
- ``local``     — ``status``, ``wp move``, ``config``, mission handles and lanes, the CLI edge.
- ``hosted``    — ``auth`` and sessions per host, ``tracker``, ``sync run``, ``sync explain``, the SaaS protocol.
- ``daemon``    — the background sync daemon, spec-kitty's own daemon, the daemon's life.
- ``trust``     — dead letters, conflicts, deadlines, ``sync status``, queue files, refused files, Ctrl-C.

Every command starts by importing this package, so the modules hold plain constants only.
"""

from states.catalog.base import *  # noqa: F403
from states.catalog.daemon import *  # noqa: F403
from states.catalog.hosted import *  # noqa: F403
from states.catalog.local import *  # noqa: F403
from states.catalog.readiness import *  # noqa: F403
from states.catalog.trust import *  # noqa: F403
