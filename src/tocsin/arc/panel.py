"""A simulated alarm panel: sends SIA DC-09 frames to a receiver and reads its answers (``tocsin panel``).

For trying a receiver out (the demo, a new central's set-up, a panel technician checking an account) and
for the benchmarks. It speaks the real protocol over a real socket, like a panel: one frame, wait for the
answer (or a time-out), then the next.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tocsin.protocols import sia_dc09


@dataclass(frozen=True)
class Answer:
    sent: bytes
    reply: sia_dc09.Message | sia_dc09.FrameError | None  # None: no answer in time
    seconds: float


def event_frame(
    *,
    account: str,
    code: str,
    zone: str,
    sequence: int,
    key: bytes | None = None,
    contact_id: bool = False,
    qualifier: int = 1,
    area: str = "1",
    extended: Iterable[tuple[str, str]] = (),
    receiver: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """One event: SIA-DCS (``code`` two letters) or ADM-CID (``code`` three digits)."""
    stamp = (now or datetime.now(UTC)).replace(microsecond=0)
    if contact_id:
        data = f"#{account}|{qualifier}{code} {int(area):02d} {int(zone):03d}"
        message_id = "ADM-CID"
    else:
        data = f"#{account}|Nri{area}/{code}{zone}"
        message_id = "SIA-DCS"
    return sia_dc09.build_frame(message_id, sequence, account, data, receiver=receiver, timestamp=stamp, key=key,
                                extended=tuple(extended))  # fmt: skip


def poll_frame(*, account: str, sequence: int, key: bytes | None = None, now: datetime | None = None) -> bytes:
    """A NULL message: the panel's periodic poll (supervision)."""
    stamp = (now or datetime.now(UTC)).replace(microsecond=0)
    return sia_dc09.build_frame("NULL", sequence, account, "", timestamp=stamp, key=key)


def send(frames: Iterable[bytes], *, host: str, port: int, udp: bool = False, key: bytes | None = None,
         timeout: float = 5.0) -> list[Answer]:  # fmt: skip
    """Send each frame, waiting for its answer before the next (as a panel does)."""
    import time

    answers = []
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        reader = sia_dc09.FrameReader()
        for frame in frames:
            started = time.monotonic()
            sock.sendall(frame)
            reply: sia_dc09.Message | sia_dc09.FrameError | None = None
            try:
                while reply is None:
                    data = sock.recv(4096)
                    if not data:
                        break
                    for item in reader.feed(data):
                        reply = sia_dc09.parse_message(item, key=key) if isinstance(item, sia_dc09.Frame) else item
                        break
            except TimeoutError:
                pass
            answers.append(Answer(frame, reply, time.monotonic() - started))
    return answers
