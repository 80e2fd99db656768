"""Helpers shared by the CLI tests: the stealth guard runner and project builders."""
