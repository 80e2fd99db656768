"""Hosted command groups. Imported only when the rollout flag is on (see ``cli.main.COMMANDS``)."""
