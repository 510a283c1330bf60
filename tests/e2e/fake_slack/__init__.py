"""A local Slack for end-to-end tests: the Web API, Socket Mode's websocket, and the deliveries and
users that play Slack's servers and client."""

from .socket_mode import FakeSocketMode
from .web_api import APP_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlackWebApi, Message, check_blocks
from .workspace import Delivery, EventsApi, SlackUser, SocketModeDelivery, new_event_id, signature, slack_text

__all__ = [
    "APP_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Delivery",
    "EventsApi",
    "FakeSlackWebApi",
    "FakeSocketMode",
    "Message",
    "SlackUser",
    "SocketModeDelivery",
    "check_blocks",
    "new_event_id",
    "signature",
    "slack_text",
]
