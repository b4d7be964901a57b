"""SMS over Kannel's HTTP interface: smsbox's ``/cgi-bin/sendsms``, receipts through a dlr-url.

Each message is one GET to smsbox over a few keep-alive connections in
parallel. Kannel answers at once whether it queued the message; how it went
at the handset comes later, when bearerbox calls the ``dlr-url`` we gave it:
``/api/v1/gateways/kannel/<gateway>/dlr``, signed per delivery so nobody else
can mark a delivery delivered (see ``tocsin.delivery.api``).

The gateway's config: ``url`` (smsbox's sendsms address), ``username``,
``password``, ``source_addr``, optionally ``smsc`` (Kannel's smsc-id to route
through), ``callback_base`` (how bearerbox reaches Tocsin; default
TOCSIN_BASE_URL), ``connections`` (parallel requests, default 8), ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

import httpx
from django.conf import settings

from tocsin.delivery.channels.base import Channel, Outgoing, register
from tocsin.delivery.kannel import callback_signature, message_id
from tocsin.delivery.outbox import Result
from tocsin.protocols import gsm

logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per message

# dlr-mask: delivered (1), not delivered (2), accepted by the SMSC (8), refused by the SMSC (16).
DLR_MASK = 1 | 2 | 8 | 16


@register
class KannelChannel(Channel):
    kind = "kannel"

    @property
    def _connections(self) -> int:
        return max(1, int(self.gateway.config.get("connections", 8)))

    async def open(self) -> None:
        cfg = self.gateway.config
        self.url = cfg.get("url", "http://127.0.0.1:13013/cgi-bin/sendsms")
        self.client = httpx.AsyncClient(
            timeout=float(cfg.get("timeout", 15)),
            limits=httpx.Limits(max_connections=self._connections, max_keepalive_connections=self._connections),
        )
        # The credentials without a recipient: smsbox says 403 when they are wrong, 4xx "no <to>" when right.
        query = urlencode({"username": cfg.get("username", ""), "password": cfg.get("password", "")})
        try:
            response = await self.client.get(f"{self.url}?{query}")
        except httpx.HTTPError as exc:
            await self.client.aclose()
            self.health.state, self.health.detail = "down", f"smsbox {self.url}: {exc!r}"
            raise ConnectionError(self.health.detail) from exc
        if response.status_code in (401, 403):
            await self.client.aclose()
            self.health.state = "down"
            self.health.detail = f"smsbox refused the credentials: {response.text.strip()[:200]}"
            raise ConnectionError(self.health.detail)
        self.health.state, self.health.detail = "ok", f"smsbox {self.url}"

    def _query(self, item: Outgoing, coding: gsm.Coding) -> str:
        cfg = self.gateway.config
        base = (cfg.get("callback_base") or settings.BASE_URL).rstrip("/")
        signature = callback_signature(self.gateway.id, item.delivery_id)
        # %d and %A are filled in by Kannel when it calls back: the report type and the SMSC's answer.
        dlr_url = (
            f"{base}/api/v1/gateways/kannel/{self.gateway.id}/dlr?d={item.delivery_id}&s={signature}&type=%d&answer=%A"
        )
        params = {
            "username": cfg.get("username", ""),
            "password": cfg.get("password", ""),
            "from": cfg.get("source_addr", "Tocsin"),
            "to": item.recipient,
            "text": item.content.get("text", ""),
            "charset": "UTF-8",
            "coding": "2" if coding is gsm.Coding.UCS2 else "0",
            "dlr-mask": str(DLR_MASK),
            "dlr-url": dlr_url,
        }
        if cfg.get("smsc"):
            params["smsc"] = cfg["smsc"]
        return urlencode(params)

    async def _send_one(self, item: Outgoing) -> Result:
        text = item.content.get("text", "")
        try:
            segmented = gsm.segment(text)
        except gsm.EncodingError as exc:
            return Result(item.delivery_id, "failed", error=str(exc))
        try:
            response = await self.client.get(f"{self.url}?{self._query(item, segmented.coding)}")
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return Result(item.delivery_id, "retry", error=f"smsbox unreachable: {exc!r}")
        except httpx.HTTPError as exc:
            # The request may have reached smsbox: it could be queued there.
            return Result(item.delivery_id, "retry", error=f"smsbox: {exc!r}", maybe_sent=True)
        answer = response.text.strip()[:200]
        if response.status_code in (200, 202):
            return Result(item.delivery_id, "submitted", message_id=message_id(item.delivery_id), units=segmented.count)
        if response.status_code in (401, 403):
            self.health.state, self.health.detail = "down", f"smsbox refused the credentials: {answer}"
            return Result(item.delivery_id, "retry", error=f"{response.status_code} {answer}")
        if 400 <= response.status_code < 500:
            return Result(item.delivery_id, "failed", error=f"{response.status_code} {answer}")
        return Result(item.delivery_id, "retry", error=f"{response.status_code} {answer}")

    async def send(self, batch: list[Outgoing]) -> list[Result]:
        lanes = self._connections
        queues = [batch[i::lanes] for i in range(lanes)]

        async def lane(items: list[Outgoing]) -> list[Result]:
            return [await self._send_one(item) for item in items]

        chunks = await asyncio.gather(*(lane(q) for q in queues if q))
        return [r for chunk in chunks for r in chunk]

    async def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            await client.aclose()
