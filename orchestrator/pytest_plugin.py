"""pytest plugin for suites that drive spec-kitty-sync (fixtures land with the plugin issue)."""
