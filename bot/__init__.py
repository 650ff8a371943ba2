"""threadbot: an LLM in Slack and Discord threads, with history kept in SQLite."""

__version__ = "0.1.0"
