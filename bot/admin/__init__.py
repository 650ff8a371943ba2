"""Admin controls: who may use the bot, what it may cost, and settings per place.

- ``ledger.py``: the values the store counts spending and keeps chat-set settings with;
- ``config.py``: ``threadbot.toml`` + the ``THREADBOT_*`` admin variables, validated;
- ``places.py``: the effective settings for a place (most specific scope wins);
- ``access.py``: who may use the bot where; ``quotas.py``: the limits and the admission rule;
- ``prices.py``: tokens → estimated US dollars; ``gate.py``: what the engine asks.
"""
