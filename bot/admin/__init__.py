"""Admin controls: who may use the bot, what it may cost, and settings per place.

- ``config.py``: ``threadbot.toml`` + the ``THREADBOT_*`` admin variables, validated;
- ``places.py``: the effective settings for a place (most specific scope wins), with sources;
- ``access.py``: who may use the bot where; ``quotas.py``: the limits and the admission rule;
- ``prices.py``: tokens → estimated US dollars;
- ``ledger.py``: the values the store counts spending and keeps chat-set settings with;
- ``remembered.py``: chat-set settings, read only where there are some;
- ``gate.py``: what the engine asks (refused? which place? may this call go ahead? cost?);
- ``profiles.py``: the strategies and provider client for each place's settings;
- ``chat.py``: the ``usage``, ``model`` and ``config`` commands; ``reloads.py``: SIGHUP and
  `threadbot reload`.
"""
