"""What the voice tests share: a trunk pointing at a loopback phone, and dispatchers run until a condition holds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from tests.conftest import database_url_for_tests, run_async
from tocsin.delivery import services
from tocsin.delivery.dispatcher import Dispatcher
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.models import Gateway, SendRequest

# Short waits, so a test call lasts seconds: a person is recognised after 2 s of silence (or "Hallo?").
FAST = {"ring_timeout_s": 3, "ack_wait_s": 1, "pause_s": 0.2, "retry_after_s": [60, 120]}
MESSAGE = {
    "nl": {"text": "Hoogwater in Zottegem. Blijf binnen."},
    "fr": {"text": "Crue à Zottegem. Restez à l'intérieur."},
}


def trunk(address: tuple[str, int], *, concurrency: int = 10, rate_per_s: float = 20, **config: Any) -> Gateway:
    return services.gateway_set(
        name="loopback-trunk", kind="sip", rate_per_s=rate_per_s, concurrency=concurrency,
        config={"server": f"{address[0]}:{address[1]}", "caller_id": "+3292000000", **FAST, **config},
    )  # fmt: skip


def call(org: Any, numbers: list[tuple[str, str]], content: dict[str, dict[str, str]] | None = None) -> SendRequest:
    return services.send_request_create(
        organisation_id=org.pk, created_by_id=None, purpose="alert", priority=Priority.ALERT,
        content=content or MESSAGE, recipients={Channel.VOICE: numbers},
    )  # fmt: skip


def run_until(condition_sql: str, *, timeout: float = 30, dispatchers: int = 1, idle_s: float = 0.2) -> float:
    """Run ``dispatchers`` workers (each its own Dispatcher on its own loop) until ``condition_sql`` (one boolean)
    holds; the seconds it took. Raises AssertionError on timeout."""

    async def go() -> float:
        workers = [Dispatcher(database_url_for_tests(), worker=f"w{i}", idle_s=idle_s) for i in range(dispatchers)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        start = time.monotonic()
        held = False
        try:
            async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
                while time.monotonic() - start < timeout:
                    row = await (await conn.execute(condition_sql)).fetchone()
                    if row and row[0]:
                        held = True
                        break
                    await asyncio.sleep(0.1)
        finally:
            for w in workers:
                w.stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert held, f"not within {timeout} s: {condition_sql}"
        return time.monotonic() - start

    return run_async(go, timeout=timeout + 40)  # type: ignore[return-value]


ALL_ENDED = "SELECT count(*) = 0 FROM delivery_delivery WHERE state IN ('queued', 'claimed')"
