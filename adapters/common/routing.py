"""What an adapter does with an incoming message: one vocabulary for every platform, decided
by each platform's pure ``events`` module and carried out by its handlers."""

from __future__ import annotations

from enum import Enum


class Action(Enum):
    IGNORE = "ignore"  # not for the bot: not even stored
    CONTEXT = "context"  # stored so the model sees it later, not answered
    ANSWER = "answer"
    ANSWER_IF_FOLLOWING = "answer_if_following"  # only where the bot has the conversation
    JOIN = "join"  # addressed in a thread new to the bot: read its earlier messages, answer
    OPEN_THREAD = "open_thread"  # start a thread from the message and answer there
    CONTINUE_CHAIN = "continue_chain"  # a reply to the bot's reply: same conversation
