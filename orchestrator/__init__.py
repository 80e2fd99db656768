"""Everything that touches the world: facts, files, the queue, the SaaS client, the daemon, the dev SaaS."""

__version__ = "0.1.0"
