"""Provider failures by kind, and the one short sentence a user sees for each.

Providers translate SDK exceptions into a ProviderError of a kind; the engine shows
USER_MESSAGES[kind]. Keeping the wording here means Slack, Discord and the console all say
the same thing, and no adapter ever formats an exception.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    CONTEXT_TOO_LONG = "context_too_long"
    AUTH = "auth"
    UNAVAILABLE = "unavailable"  # connection refused / dropped
    PREVIOUS_RESPONSE_NOT_FOUND = "previous_response_not_found"  # handled, never shown
    CHAIN_UNSUPPORTED = "chain_unsupported"  # the server has no previous_response_id: replayed
    OTHER = "other"


USER_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.RATE_LIMITED: "The AI provider is rate-limiting us right now. Please try again in a minute.",
    ErrorKind.OVERLOADED: "The AI provider is overloaded right now. Please try again shortly.",
    ErrorKind.TIMEOUT: "The AI provider took too long to answer. Please try again.",
    ErrorKind.CONTEXT_TOO_LONG: "This conversation is too long for the model. Use reset to start over.",
    ErrorKind.AUTH: "The bot's AI credentials were rejected. Please tell the bot's admin.",
    ErrorKind.UNAVAILABLE: "The AI provider could not be reached. Please try again.",
    ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND: "Something went wrong while answering. Please try again.",
    ErrorKind.CHAIN_UNSUPPORTED: "Something went wrong while answering. Please try again.",
    ErrorKind.OTHER: "Something went wrong while answering. Please try again.",
}


class ProviderError(Exception):
    """A provider call failed; ``kind`` decides what the user is told.

    ``detail`` is for logs only (status code, error code) and never contains credentials.
    """

    def __init__(self, kind: ErrorKind, detail: str = "", *, window: int | None = None) -> None:
        detail = detail[:300]  # a proxy's echo of a huge body never floods a log line
        super().__init__(f"{kind}: {detail}" if detail else str(kind))
        self.kind = kind
        self.detail = detail
        self.window = window  # CONTEXT_TOO_LONG: the model's window when the server said it

    @property
    def user_message(self) -> str:
        return USER_MESSAGES[self.kind]


class ConfigError(Exception):
    """Missing or wrong configuration: the message is one line telling the admin what to set."""
