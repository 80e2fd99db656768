"""The readiness machine: which hosted capabilities this machine may use, and why not.

Pure by contract: nothing in this package touches files, the network or other processes. It is fed
facts gathered elsewhere (``orchestrator.facts``) and answers with a settled state plus the exact
wording to show an operator.
"""
