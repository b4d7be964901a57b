"""E-mail over SMTP: several persistent connections in parallel, STARTTLS when offered,
multipart text + HTML in the recipient's language, a bounce (envelope) address."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from tocsin.delivery.channels.base import Channel, Outgoing, register
from tocsin.delivery.outbox import Result

# Reply codes after which the same message will not get through later either.
_PERMANENT = range(500, 600)


@register
class SmtpChannel(Channel):
    kind = "smtp"

    async def open(self) -> None:
        cfg = self.gateway.config
        self.connections: list[aiosmtplib.SMTP] = []
        for _ in range(int(cfg.get("connections", 4))):
            self.connections.append(await self._connect())
        self.health.state, self.health.detail = "ok", f"{len(self.connections)} connections"

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.gateway.config
        client = aiosmtplib.SMTP(
            hostname=cfg.get("host", "127.0.0.1"),
            port=int(cfg.get("port", 25)),
            timeout=float(cfg.get("timeout", 15)),
            start_tls=False,
            use_tls=bool(cfg.get("tls", False)),
        )
        try:
            await client.connect()
            if cfg.get("starttls", "auto") != "never" and client.supports_extension("starttls"):
                context = ssl.create_default_context()
                if cfg.get("insecure_skip_verify"):
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                await client.starttls(tls_context=context)
            if cfg.get("username"):
                await client.login(cfg["username"], cfg.get("password", ""))
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.health.state, self.health.detail = "down", str(exc)
            raise ConnectionError(f"SMTP {cfg.get('host')}:{cfg.get('port')}: {exc}") from exc
        return client

    def _message(self, item: Outgoing) -> EmailMessage:
        cfg = self.gateway.config
        msg = EmailMessage()
        msg["From"] = cfg.get("from", "Tocsin <no-reply@tocsin.invalid>")
        msg["To"] = item.recipient
        msg["Subject"] = item.content.get("subject", "")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(
            idstring=f"d{item.delivery_id}", domain=cfg.get("msgid_domain", "tocsin.invalid")
        )
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(item.content.get("text", ""))
        if item.content.get("html"):
            msg.add_alternative(item.content["html"], subtype="html")
        msg["Content-Language"] = item.language  # after set_content, which drops Content-* headers
        return msg

    async def _send_one(self, index: int, item: Outgoing) -> Result:
        client = self.connections[index]
        msg = self._message(item)
        bounce = self.gateway.config.get("bounce_address") or None
        for attempt in range(2):
            try:
                if not client.is_connected:
                    client = self.connections[index] = await self._connect()
                errors, _reply = await client.send_message(msg, sender=bounce, recipients=[item.recipient])
                if errors:
                    code, text = next(iter(errors.values()))
                    state = "failed" if code in _PERMANENT else "retry"
                    return Result(item.delivery_id, state, error=f"{code} {text}")
                return Result(item.delivery_id, "submitted", message_id=str(msg["Message-ID"]), units=0)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients[0].code, exc.recipients[0].message
                return Result(item.delivery_id, "failed" if code in _PERMANENT else "retry", error=f"{code} {text}")
            except aiosmtplib.SMTPResponseException as exc:
                state = "failed" if exc.code in _PERMANENT else "retry"
                return Result(item.delivery_id, state, error=f"{exc.code} {exc.message}")
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
                if attempt == 0:
                    continue  # the connection went stale: reconnect once
                self.health.state, self.health.detail = "degraded", str(exc)
                return Result(item.delivery_id, "retry", error=f"connection: {exc}")
        return Result(item.delivery_id, "retry", error="connection lost")  # pragma: no cover

    async def send(self, batch: list[Outgoing]) -> list[Result]:
        lanes = len(self.connections)
        queues: list[list[Outgoing]] = [batch[i::lanes] for i in range(lanes)]

        async def lane(index: int, items: list[Outgoing]) -> list[Result]:
            return [await self._send_one(index, item) for item in items]

        chunks = await asyncio.gather(*(lane(i, q) for i, q in enumerate(queues)))
        return [r for chunk in chunks for r in chunk]

    async def close(self) -> None:
        for client in getattr(self, "connections", []):
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
