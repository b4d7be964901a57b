"""A lean SMTP client (RFC 5321) for mass sending: one connection, many transactions, pipelined.

Why not aiosmtplib: it re-parses every address with ``email.utils`` and waits for
each reply in turn (MAIL, RCPT, DATA, content: four round trips per message), which
made the e-mail channel CPU- and latency-bound. Here, when the server offers
PIPELINING (RFC 2920), a message's content, its end-of-data dot and the next
message's MAIL, RCPT and DATA go out in one write: one round trip per message. A
server without PIPELINING gets the plain lock-step dialogue.

Supported: EHLO/HELO, STARTTLS, AUTH PLAIN and LOGIN, 8BITMIME bodies (sent as
given), dot-stuffing, RSET after a refused transaction, QUIT.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


class SmtpError(Exception):
    """The server said no, or the dialogue broke; ``code`` is the reply code (0: connection)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}" if code else text)
        self.code = code
        self.text = text
        self.partial: list[Outcome] = []  # send_many: the outcomes known before the break
        self.in_doubt = False  # send_many: the next message's content went out unanswered


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


@dataclass(frozen=True)
class Envelope:
    """One message for one recipient; ``content`` is the message in CRLF lines, not yet dot-stuffed."""

    sender: str
    recipient: str
    content: bytes


@dataclass(frozen=True)
class Outcome:
    reply: Reply  # the final reply for this message (250 accepted, or the refusal)
    sent: bool  # the content went out (a lost connection after this means "maybe delivered")


def dot_stuff(content: bytes) -> bytes:
    """Double a leading dot on every line and end with CRLF (RFC 5321 4.5.2)."""
    if content.startswith(b"."):
        content = b"." + content
    content = content.replace(b"\r\n.", b"\r\n..")
    return content if content.endswith(b"\r\n") else content + b"\r\n"


@dataclass
class SmtpClient:
    host: str
    port: int = 25
    timeout: float = 15.0
    local_hostname: str = "tocsin.invalid"
    extensions: dict[str, str] = field(default_factory=dict)
    _progress: float = 0.0
    _timed_out: bool = False

    async def connect(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        starttls: str = "auto",  # auto: when offered | always: refuse a server without it | never
        username: str = "",
        password: str = "",
    ) -> None:
        async with asyncio.timeout(self.timeout):
            self.reader, self.writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=(tls_context or ssl.create_default_context()) if implicit_tls else None,
                server_hostname=self.host if implicit_tls else None,
            )
            greeting = await self._reply()
            if greeting.code != 220:
                raise SmtpError(greeting.code, greeting.text)
            await self._hello()
            if starttls != "never" and not implicit_tls:
                if "starttls" in self.extensions:
                    await self._expect(b"STARTTLS\r\n", 220)
                    if self.reader._buffer:  # type: ignore[attr-defined]  # bytes injected before TLS began
                        raise SmtpError(0, "the server sent data before the TLS handshake")
                    await self.writer.start_tls(tls_context or ssl.create_default_context(), server_hostname=self.host)
                    await self._hello()
                elif starttls == "always":
                    raise SmtpError(0, "the server does not offer STARTTLS")
            if username:
                await self._login(username, password)

    @property
    def pipelining(self) -> bool:
        return "pipelining" in self.extensions

    @property
    def connected(self) -> bool:
        return hasattr(self, "writer") and not self.writer.is_closing()

    async def _hello(self) -> None:
        self.writer.write(f"EHLO {self.local_hostname}\r\n".encode("ascii"))
        reply = await self._reply()
        if reply.code != 250:
            await self._expect(f"HELO {self.local_hostname}\r\n".encode("ascii"), 250)
            self.extensions = {}
            return
        self.extensions = {}
        for line in reply.text.split("\n")[1:]:
            keyword, _, params = line.strip().partition(" ")
            self.extensions[keyword.lower()] = params

    async def _login(self, username: str, password: str) -> None:
        methods = self.extensions.get("auth", "").upper().split()
        if "PLAIN" in methods or not methods:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
            await self._expect(f"AUTH PLAIN {token}\r\n".encode("ascii"), 235)
        elif "LOGIN" in methods:
            await self._expect(b"AUTH LOGIN\r\n", 334)
            await self._expect(base64.b64encode(username.encode()) + b"\r\n", 334)
            await self._expect(base64.b64encode(password.encode()) + b"\r\n", 235)
        else:
            raise SmtpError(0, f"no supported AUTH method among {methods}")

    async def _reply(self) -> Reply:
        lines: list[str] = []
        while True:
            line = await self.reader.readline()
            self._progress = time.monotonic()  # for send_many's watchdog
            if not line:
                raise SmtpError(0, "the server closed the connection")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if len(text) < 3 or not text[:3].isdigit():
                raise SmtpError(0, f"not an SMTP reply: {text[:80]!r}")
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def _expect(self, command: bytes, code: int) -> Reply:
        self.writer.write(command)
        reply = await self._reply()
        if reply.code != code:
            raise SmtpError(reply.code, reply.text)
        return reply

    def _commands(self, envelope: Envelope) -> bytes:
        for address in (envelope.sender, envelope.recipient):
            if any(c in address for c in "\r\n<>") or not address.isascii():
                raise ValueError(f"not a plain address: {address!r}")  # no command injection
        body = " BODY=8BITMIME" if "8bitmime" in self.extensions else ""
        return f"MAIL FROM:<{envelope.sender}>{body}\r\nRCPT TO:<{envelope.recipient}>\r\nDATA\r\n".encode("ascii")

    async def send_many(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Send each envelope in its own transaction; one Outcome per envelope, in order.

        Raises SmtpError when the dialogue breaks; the Outcomes gathered so far are in ``exc.partial``,
        and ``exc.in_doubt`` says whether the next message's content was sent without an answer.
        """
        outcomes: list[Outcome] = []
        self._in_doubt = False
        watchdog = self._watch()
        try:
            if self.pipelining:
                await self._pipelined(envelopes, outcomes)
            else:
                for envelope in envelopes:
                    outcomes.append(await self._one(envelope))
        except (SmtpError, OSError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, SmtpError) else 0
            text = f"no reply within {self.timeout:.0f} s" if self._timed_out else (str(exc) or type(exc).__name__)
            error = SmtpError(code, text)
            error.partial, error.in_doubt = outcomes, self._in_doubt
            raise error from exc
        finally:
            watchdog()
        return outcomes

    def _watch(self) -> Callable[[], None]:
        """Abort the connection when no reply came for ``timeout`` seconds; returns the cancel function.

        One timer per batch, re-armed only when it fires, instead of a timeout per reply (four per
        message without pipelining): a slow but steady server is never cut off.
        """
        loop = asyncio.get_running_loop()
        self._progress = time.monotonic()
        self._timed_out = False
        handle: list[asyncio.TimerHandle] = []

        def check() -> None:
            idle = time.monotonic() - self._progress
            if idle >= self.timeout:
                self._timed_out = True
                self.writer.transport.abort()  # the pending read ends; send_many reports the timeout
            else:
                handle[0] = loop.call_later(self.timeout - idle, check)

        handle.append(loop.call_later(self.timeout, check))
        return lambda: handle[0].cancel()

    async def _one(self, envelope: Envelope) -> Outcome:
        for command in self._commands(envelope).split(b"\r\n")[:-1]:
            self.writer.write(command + b"\r\n")
            reply = await self._reply()
            if command == b"DATA" and reply.code == 354:
                break
            if not reply.ok:
                await self._expect(b"RSET\r\n", 250)
                return Outcome(reply, sent=False)
        self.writer.write(dot_stuff(envelope.content) + b".\r\n")
        self._in_doubt = True
        reply = await self._reply()
        self._in_doubt = False
        return Outcome(reply, sent=True)

    async def _pipelined(self, envelopes: Sequence[Envelope], outcomes: list[Outcome]) -> None:
        pending = b""  # the previous message's content, sent with the next commands
        for envelope in envelopes:
            self.writer.write(pending + self._commands(envelope))
            if pending:
                self._in_doubt = True
                outcomes.append(Outcome(await self._reply(), sent=True))
                self._in_doubt = False
            mail, rcpt, data = await self._reply(), await self._reply(), await self._reply()
            if data.code == 354 and mail.ok and rcpt.ok:
                pending = dot_stuff(envelope.content) + b".\r\n"
                continue
            refusal = next(r for r in (mail, rcpt, data) if not r.ok) if not (mail.ok and rcpt.ok) else data
            if data.code == 354:  # a server that said 354 anyway: end an empty message, then reset
                self.writer.write(b".\r\nRSET\r\n")
                await self._reply()
                await self._reply()
            else:
                await self._expect(b"RSET\r\n", 250)
            outcomes.append(Outcome(refusal, sent=False))
            pending = b""
        if pending:
            self.writer.write(pending)
            self._in_doubt = True
            outcomes.append(Outcome(await self._reply(), sent=True))
            self._in_doubt = False

    async def quit(self) -> None:
        if self.connected:
            try:
                async with asyncio.timeout(2):
                    await self._expect(b"QUIT\r\n", 221)
            except (SmtpError, OSError, TimeoutError):
                pass
            self.close()

    def close(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
