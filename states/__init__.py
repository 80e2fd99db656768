"""The machines that decide, and the words they answer with: nothing here touches the world.

Pure by contract: nothing in this package touches files, the network or other processes. It is fed
facts gathered elsewhere (``orchestrator.facts``, ``orchestrator.daemon.life``) and answers with a
settled state plus the exact wording to show an operator.

- ``machine``     — the readiness machine: which hosted capabilities this machine may use, and why not.
- ``daemon_life`` — the background daemon's life: not running, starting, running, hung, died, spec-kitty's.
- ``lanes``       — the work-package lane machine ``wp move`` enforces.
- ``catalog``     — every operator-facing sentence and exit code, one module per concern.
- ``facts``, ``contract``, ``explain``, ``diagram`` — what the machines read, shared names, and how
  they are explained and drawn.
"""
