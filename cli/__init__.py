"""Thin click wiring: parse arguments, ask the readiness machine, call the orchestrator, print."""
