"""E-mail over SMTP: several persistent connections in parallel, pipelined when the server allows,
STARTTLS when offered, multipart text + HTML in the recipient's language, a bounce (envelope) address.

Config: ``host``, ``port``, ``connections`` (default 4), ``timeout``, ``tls`` (implicit TLS, port 465),
``starttls`` (auto | always | never), ``insecure_skip_verify``, ``username``/``password``, ``from``,
``bounce_address``, ``msgid_domain``.

A message whose content has ``link_path`` ends with a link of its own per recipient (an alert's
acknowledgement link): the shared body holds a placeholder line that each envelope replaces.
"""

from __future__ import annotations

import asyncio
import email.policy
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from tocsin.delivery.channels.base import Channel, Outgoing, register
from tocsin.delivery.outbox import Result
from tocsin.protocols.smtp import Envelope, Outcome, SmtpClient, SmtpError

_DEFAULT_FROM = "no-reply@tocsin.invalid"
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_LINK = "TOCSIN-LINK-PLACEHOLDER"  # ASCII on a line of its own: 7bit and quoted-printable leave it as it is


@register
class SmtpChannel(Channel):
    kind = "smtp"

    async def open(self) -> None:
        cfg = self.gateway.config
        self._bodies: dict[tuple[int, str], bytes] = {}
        self._envelope_from = cfg.get("bounce_address") or parseaddr(cfg.get("from", _DEFAULT_FROM))[1] or _DEFAULT_FROM
        self.connections: list[SmtpClient] = []
        for _ in range(max(1, int(cfg.get("connections", 4)))):
            self.connections.append(await self._connect())
        pipelined = " (pipelining)" if self.connections[0].pipelining else ""
        self.health.state, self.health.detail = "ok", f"{len(self.connections)} connections{pipelined}"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.gateway.config.get("insecure_skip_verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect(self) -> SmtpClient:
        cfg = self.gateway.config
        client = SmtpClient(host=cfg.get("host", "127.0.0.1"), port=int(cfg.get("port", 25)),
                            timeout=float(cfg.get("timeout", 15)))  # fmt: skip
        try:
            await client.connect(
                tls_context=self._tls_context(),
                implicit_tls=bool(cfg.get("tls", False)),
                starttls=cfg.get("starttls", "auto"),
                username=cfg.get("username", ""),
                password=cfg.get("password", ""),
            )
        except (SmtpError, OSError, TimeoutError) as exc:
            client.close()
            self.health.state, self.health.detail = "down", f"SMTP {client.host}:{client.port}: {exc}"
            raise ConnectionError(self.health.detail) from exc
        return client

    def _body(self, item: Outgoing) -> bytes:
        """The message without its per-recipient headers, built once per send request and language.

        Python's email package costs ~1 ms of CPU per message to build and flatten (header parsing and
        folding); a mass send reuses the same bytes and only adds Date, Message-ID and To, which are
        plain ASCII (addresses are checked against an ASCII pattern before they reach the outbox).
        """
        key = (item.request_id, item.language)
        body = self._bodies.get(key)
        if body is None:
            # 7-bit transfer encodings (quoted-printable) for accented text: safe through any relay.
            msg = EmailMessage(policy=_POLICY)
            msg["From"] = self.gateway.config.get("from", f"Tocsin <{_DEFAULT_FROM}>")
            msg["Subject"] = item.content.get("subject", "")
            msg["Auto-Submitted"] = "auto-generated"
            text = item.content.get("text", "")
            if item.content.get("link_path"):
                text = f"{text}\n\n{item.content.get('link_label', '')}\n{_LINK}\n"
                # Quoted-printable keeps the placeholder line readable (base64, which the email package
                # picks for text dense in non-Latin letters, would hide it).
                msg.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
            else:
                msg.set_content(text)
            if item.content.get("html"):
                msg.add_alternative(item.content["html"], subtype="html")
            msg["Content-Language"] = item.language  # after set_content, which drops Content-* headers
            body = msg.as_bytes(policy=_POLICY)
            if len(self._bodies) >= 64:
                self._bodies.pop(next(iter(self._bodies)))
            self._bodies[key] = body
        return body

    def _message_id(self, item: Outgoing) -> str:
        return f"<d{item.delivery_id}.r{item.request_id}@{self.gateway.config.get('msgid_domain', 'tocsin.invalid')}>"

    def _envelope(self, item: Outgoing, date: str) -> Envelope:
        head = f"Date: {date}\r\nMessage-ID: {self._message_id(item)}\r\nTo: {item.recipient}\r\n".encode("ascii")
        body = self._body(item)
        if item.content.get("link_path"):
            body = body.replace(_LINK.encode(), self._link(item).encode("ascii"), 1)
        return Envelope(self._envelope_from, item.recipient, head + body)

    def _link(self, item: Outgoing) -> str:
        from django.conf import settings

        from tocsin.delivery.domain import link_token

        token = link_token(settings.SECRET_KEY, item.delivery_id)
        return f"{settings.BASE_URL.rstrip('/')}{item.content['link_path']}{token}"

    def _result(self, item: Outgoing, outcome: Outcome) -> Result:
        code, text = outcome.reply.code, outcome.reply.text.replace("\n", " ")
        if code == 250:
            return Result(item.delivery_id, "submitted", message_id=self._message_id(item), units=0)
        state = "failed" if 500 <= code < 600 else "retry"  # 5xx: the same message will not get through later
        return Result(item.delivery_id, state, error=f"{code} {text}")

    async def _lane(self, index: int, items: list[Outgoing], date: str) -> list[Result]:
        results: list[Result] = []
        reconnected = False
        while items:
            client = self.connections[index]
            try:
                if not client.connected:
                    client = self.connections[index] = await self._connect()
                envelopes, unfit = [], []
                for i in items:
                    try:
                        envelopes.append(self._envelope(i, date))
                    except ValueError as exc:  # a header the email package refuses: this one fails alone
                        unfit.append(Result(i.delivery_id, "failed", error=f"message not buildable: {exc}"))
                if unfit:
                    failed_ids = {r.delivery_id for r in unfit}
                    results += unfit
                    items = [i for i in items if i.delivery_id not in failed_ids]
                outcomes = await client.send_many(envelopes)
            except ConnectionError as exc:
                return results + [Result(i.delivery_id, "retry", error=str(exc)) for i in items]
            except SmtpError as exc:
                results += [self._result(i, o) for i, o in zip(items, exc.partial, strict=False)]
                items = items[len(exc.partial) :]
                client.close()
                if exc.in_doubt and items:  # its content went out unanswered: it may have arrived
                    first, items = items[0], items[1:]
                    results.append(Result(first.delivery_id, "retry", error=f"connection: {exc}", maybe_sent=True))
                if reconnected:
                    self.health.state, self.health.detail = "degraded", str(exc)
                    return results + [Result(i.delivery_id, "retry", error=f"connection: {exc}") for i in items]
                reconnected = True  # a connection gone stale while idle: once more on a new one
                continue
            return results + [self._result(i, o) for i, o in zip(items, outcomes, strict=True)]
        return results

    async def send(self, batch: list[Outgoing]) -> list[Result]:
        lanes = len(self.connections)
        date = formatdate(localtime=True)
        chunks = await asyncio.gather(*(self._lane(i, batch[i::lanes], date) for i in range(lanes)))
        return [r for chunk in chunks for r in chunk]

    async def close(self) -> None:
        for client in getattr(self, "connections", []):
            await client.quit()
