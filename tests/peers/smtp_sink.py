"""A minimal SMTP server on loopback that only counts the messages it accepts: a peer for benchmarks.

aiosmtpd (the test peer in tests/peers/smtp.py) spends ~0.4 ms of CPU per message, which on two
cores made the server, not the client under test, set the pace. This one speaks just enough SMTP
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; RFC 5321 replies, dot-terminated data; PIPELINING;
RCPT for …@refused.example answered 550) with one
buffer scan per read. Run in its own process (see bench/email_bench.py).
"""

from __future__ import annotations

import asyncio
from multiprocessing.sharedctypes import Synchronized

_END_OF_DATA = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    def __init__(self, count: Synchronized, pipelining: bool = True) -> None:  # type: ignore[type-arg]
        self.count = count
        self.ehlo = (
            b"250-sink.invalid\r\n"
            + (b"250-PIPELINING\r\n" if pipelining else b"")
            + b"250-8BITMIME\r\n250 SIZE 10485760\r\n"
        )
        self.buffer = b""
        self.in_data = False
        self.recipients = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 sink.invalid ESMTP counting sink\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(_END_OF_DATA)
                if end == -1:
                    break
                self.buffer = self.buffer[end + len(_END_OF_DATA) :]
                self.in_data = False
                with self.count.get_lock():
                    self.count.value += self.recipients
                self.recipients = 0
                replies.append(b"250 2.0.0 accepted\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end == -1:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(self.ehlo)
            elif verb in (b"HELO", b"NOOP"):
                replies.append(b"250 OK\r\n")
            elif verb == b"MAIL":
                self.recipients = 0
                replies.append(b"250 2.1.0 OK\r\n")
            elif verb == b"RCPT":
                if line.rstrip(b">").lower().endswith(b"@refused.example"):
                    replies.append(b"550 5.1.1 no such mailbox\r\n")
                    continue
                self.recipients += 1
                replies.append(b"250 2.1.5 OK\r\n")
            elif verb == b"DATA":
                if not self.recipients:
                    replies.append(b"503 5.5.1 RCPT first\r\n")
                    continue
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer  # so an empty body's "." line still matches CRLF.CRLF
                replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
            elif verb == b"RSET":
                self.recipients = 0
                replies.append(b"250 OK\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:
                replies.append(b"502 5.5.2 not implemented\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def serve(port: int, count: Synchronized, pipelining: bool = True) -> None:  # type: ignore[type-arg]
    """Serve forever on 127.0.0.1:port (the process is terminated when done)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SinkProtocol(count, pipelining), "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())
