"""The demo's mailbox: an SMTP server on loopback that keeps every message as a file.

`tocsin demo` points a platform e-mail gateway at it, so that e-mail sent
through the delivery engine (a citizen's verification code, a sign-in link)
can be read in ``var/demo-mail/*.eml`` without a real mail server. Not for
production: it accepts anything from anyone on 127.0.0.1 and relays nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from pathlib import Path

_END = b"\r\n.\r\n"
_MAX = 10 * 1024 * 1024


class MailboxProtocol(asyncio.Protocol):
    serial = itertools.count(1)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.buffer = b""
        self.in_data = False
        self.sender = b""
        self.recipients: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 tocsin-demo-mailbox ESMTP\r\n")

    def _store(self, body: bytes) -> None:
        lines = body.split(b"\r\n")
        text = b"\r\n".join(line[1:] if line.startswith(b"..") else line for line in lines)  # undo dot-stuffing
        head = b"X-Demo-Envelope-From: " + self.sender + b"\r\nX-Demo-Envelope-To: " + b", ".join(self.recipients)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self.serial):05d}.eml"
        (self.folder / name).write_bytes(head + b"\r\n" + text.lstrip(b"\r\n") + b"\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _MAX:
            self.transport.write(b"552 5.3.4 message too big\r\n")
            self.transport.close()
            return
        replies: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(_END)
                if end == -1:
                    break
                self._store(self.buffer[:end])
                self.buffer = self.buffer[end + len(_END) :]
                self.in_data = False
                self.recipients = []
                replies.append(b"250 2.0.0 kept\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end == -1:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-tocsin-demo-mailbox\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
            elif verb in (b"HELO", b"NOOP"):
                replies.append(b"250 OK\r\n")
            elif verb == b"MAIL":
                self.sender, self.recipients = line[10:].split(b" ")[0].strip(b"<>"), []
                replies.append(b"250 2.1.0 OK\r\n")
            elif verb == b"RCPT":
                self.recipients.append(line[8:].split(b" ")[0].strip(b"<>"))
                replies.append(b"250 2.1.5 OK\r\n")
            elif verb == b"DATA":
                if not self.recipients:
                    replies.append(b"503 5.5.1 RCPT first\r\n")
                    continue
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer
                replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
            elif verb == b"RSET":
                self.recipients = []
                replies.append(b"250 OK\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(replies) + b"221 bye\r\n")
                self.transport.close()
                return
            else:
                replies.append(b"502 5.5.2 not implemented\r\n")
        if replies:
            self.transport.write(b"".join(replies))


async def serve(port: int, folder: Path, started: asyncio.Event | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MailboxProtocol(folder), "127.0.0.1", port)
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default="var/demo-mail")
    args = parser.parse_args()
    asyncio.run(serve(args.port, Path(args.dir)))


if __name__ == "__main__":
    main()
