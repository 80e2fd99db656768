"""Compatibility shims for callers written against spec-kitty's ``specify_cli`` package: re-exports only."""
