"""DrChrono REST API v4 as a practice source: client, spool and mapping."""

from .budget import HourlyRequestBudget, RequestBudgetExhausted, SystemClock
from .client import ClientSettings, DrChronoClient, OAuthTokens
from .source import DrChronoSource

__all__ = [
    "ClientSettings",
    "DrChronoClient",
    "DrChronoSource",
    "HourlyRequestBudget",
    "OAuthTokens",
    "RequestBudgetExhausted",
    "SystemClock",
]
