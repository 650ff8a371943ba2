"""Platform adapters: the only place that imports Slack, Discord or terminal I/O."""
