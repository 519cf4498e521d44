"""Who supportsync writes as, so that its own changes coming back are recognised (SPEC S6).

`configured_own_writers` takes what the settings say (the Zendesk API user id and the
credentials' email, the Intercom admin id); `learn_own_writers` asks the platforms at start
(Zendesk `GET /api/v2/users/me`, Intercom `GET /me`) when credentials exist. A failed
lookup is logged and start-up goes on with the configured ids.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from app.settings import Settings
from connectors.delivery.budget import RequestBudget
from connectors.delivery.errors import DeliveryError
from connectors.delivery.http import HttpClient
from connectors.intercom.client import IntercomClient, intercom_http
from connectors.zendesk.client import ZendeskClient
from streams.ownwrites import OwnWriters

log = logging.getLogger(__name__)


def configured_own_writers(settings: Settings) -> OwnWriters:
    writers = OwnWriters()
    writers.add("zendesk", settings.zendesk_api_user_id)
    if settings.zendesk_email is not None:
        writers.add("zendesk", settings.zendesk_email.get_secret_value())
    writers.add("intercom", settings.intercom_admin_id)
    return writers


async def learn_own_writers(
    settings: Settings, session: aiohttp.ClientSession, writers: OwnWriters,
    *, wait_s: float = 5.0,
) -> None:
    """Add the API user / admin the credentials act as (one request per platform)."""
    if not settings.learn_own_writers:
        return
    budget = RequestBudget.unlimited()
    if settings.zendesk_configured and settings.zendesk_url:
        assert settings.zendesk_email is not None and settings.zendesk_api_token is not None
        auth = (f"{settings.zendesk_email.get_secret_value()}/token",
                settings.zendesk_api_token.get_secret_value())
        http = HttpClient(session, base_url=settings.zendesk_url, auth=auth, timeout=wait_s)
        try:
            me = await asyncio.wait_for(ZendeskClient(http).current_user(budget), wait_s)
        except (DeliveryError, TimeoutError, aiohttp.ClientError) as exc:
            log.warning("could not learn the Zendesk API user (users/me): %s", exc)
        else:
            writers.add("zendesk", str(me.get("id") or ""))
            writers.add("zendesk", str(me.get("email") or ""))
    if settings.intercom_access_token is not None:
        token = settings.intercom_access_token.get_secret_value()
        http = intercom_http(session, token, base_url=settings.intercom_base_url,
                             timeout=wait_s)
        try:
            admin = await asyncio.wait_for(IntercomClient(http).me(budget), wait_s)
        except (DeliveryError, TimeoutError, aiohttp.ClientError) as exc:
            log.warning("could not learn the Intercom admin (/me): %s", exc)
        else:
            writers.add("intercom", str(admin.get("id") or ""))
    log.info("own writers: %s", {k: len(v) for k, v in writers.ids.items()})
