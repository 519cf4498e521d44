"""Who supportsync writes as: configured, learned from the platforms, never fatal."""

from __future__ import annotations

import socket

import aiohttp

from app.ownwriters import configured_own_writers, learn_own_writers
from app.settings import Settings
from connectors.testing.fakes import FakeIntercom, FakeZendesk


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestOwnWriters:
    """Settings name writers; users/me and /me add the ones the credentials act as."""

    def test_configured(self) -> None:
        settings = Settings(zendesk_api_user_id="12", zendesk_email="Bot@Example.com",
                            intercom_admin_id="991")
        assert configured_own_writers(settings).ids == {
            "zendesk": {"12", "bot@example.com"}, "intercom": {"991"}}

    async def test_learned_from_the_platforms(self) -> None:
        async with FakeZendesk() as zendesk, FakeIntercom() as intercom:
            intercom.me["id"] = "4242"
            settings = Settings(zendesk_base_url=zendesk.base_url,
                                zendesk_email="agent@example.com", zendesk_api_token="test-token",
                                intercom_base_url=intercom.base_url,
                                intercom_access_token="test-token")
            writers = configured_own_writers(settings)
            async with aiohttp.ClientSession() as session:
                await learn_own_writers(settings, session, writers)
        assert str(zendesk.api_user["id"]) in writers.ids["zendesk"]
        assert writers.ids["intercom"] == {"4242"}

    async def test_unreachable_platforms_do_not_stop_start_up(self) -> None:
        url = f"http://127.0.0.1:{_closed_port()}"
        settings = Settings(zendesk_base_url=url, zendesk_email="a@example.com",
                            zendesk_api_token="t", intercom_base_url=url,
                            intercom_access_token="t", intercom_admin_id="991")
        writers = configured_own_writers(settings)
        async with aiohttp.ClientSession() as session:
            await learn_own_writers(settings, session, writers, wait_s=2.0)
        assert writers.ids == {"zendesk": {"a@example.com"}, "intercom": {"991"}}
