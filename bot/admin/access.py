"""Who may use the bot where. Pure: decided from a Place and who is asking.

Admins (by user id, role, or — on Discord — "Manage Server" unless
``managers_are_admins = false``) always may. Then, in order: a denied user, role,
workspace or channel is refused; where ``allowed_workspaces`` / ``allowed_channels`` are
set, only those (a direct message counts as the channel ``dm``); where ``allowed_users`` or
``allowed_roles`` are set, only those users or holders of those roles. Nothing set: open.
"""

from __future__ import annotations

from bot.admin.places import Place
from bot.types import Origin

NOT_FOR_YOU = ("Sorry, I'm not available to you here. If you think you should have access, "
               "ask an admin of this bot.")
NOT_HERE = ("Sorry, I don't answer in this channel. If you think I should, ask an admin of "
            "this bot.")
DM = "dm"


def is_admin(place: Place, user_id: str, origin: Origin) -> bool:
    if user_id in (place["admins"] or ()):
        return True
    if set(origin.roles) & set(place["admin_roles"] or ()):
        return True
    return origin.manager and bool(place["managers_are_admins"])


def refusal(place: Place, user_id: str, origin: Origin) -> str | None:
    """What to tell ``user_id`` when they may not use the bot at ``place``; None if they may."""
    if is_admin(place, user_id, origin):
        return None
    roles = set(origin.roles)
    if user_id in (place["denied_users"] or ()) or roles & set(place["denied_roles"] or ()):
        return NOT_FOR_YOU
    if not _place_allowed(place, origin):
        return NOT_HERE
    users, allowed_roles = place["allowed_users"], place["allowed_roles"]
    if users is None and allowed_roles is None:
        return None
    if user_id in (users or ()) or roles & set(allowed_roles or ()):
        return None
    return NOT_FOR_YOU


def _place_allowed(place: Place, origin: Origin) -> bool:
    scope, channel = place.key.scope, DM if origin.direct else place.channel
    if scope and scope in (place["denied_workspaces"] or ()):
        return False
    workspaces = place["allowed_workspaces"]
    if workspaces is not None and not origin.direct and scope not in workspaces:
        return False
    if channel in (place["denied_channels"] or ()) or place.channel in (place["denied_channels"] or ()):
        return False
    channels = place["allowed_channels"]
    return channels is None or channel in channels or place.channel in channels
