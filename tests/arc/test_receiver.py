"""The receiver over real sockets (issue 8): panels simulated with the codec send SIA DC-09 frames over
TCP and UDP, plain and encrypted; the receiver acknowledges only what PostgreSQL has committed, stores a
re-sent frame once, answers per the standard (no answer to a bad CRC, NAK to an unknown account or a
stale timestamp, DUH to what it does not support)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import database_url_for_tests
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, Signal
from tocsin.arc.receiver import SUPERVISION_GRACE_S, Receiver
from tocsin.protocols import sia_dc09

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "ABCDEFGHIJKLMNOP"  # an AES-128 key typed as text, as some panels take it


class Running:
    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        servers = asyncio.run_coroutine_threadsafe(
            receiver.serve(host="127.0.0.1", tcp_ports=[0], udp_ports=[0]), self.loop
        ).result(30)
        self.servers = servers
        self.tcp_port = servers[0].sockets[0].getsockname()[1]
        self.udp_port = servers[1].get_extra_info("sockname")[1]

    def stop(self) -> None:
        async def close() -> None:
            for s in self.servers:
                s.close()
            for task in list(self.receiver.tasks):
                task.cancel()
            if self.receiver.committer.conn is not None:
                await self.receiver.committer.conn.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def receiver(central_op, central) -> Iterator[Running]:
    services.account_set(actor=as_member(central_op), account="1234")
    services.account_set(actor=as_member(central_op), account="5678", key=KEY, encryption_required=True)
    running = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    yield running
    running.stop()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _frame(sequence: int, account: str = "1234", data: str = "#1234|NBA01", **kw: object) -> bytes:
    return sia_dc09.build_frame("SIA-DCS", sequence, account, data, timestamp=kw.pop("timestamp", _now()), **kw)  # type: ignore[arg-type]


def _replies(sock: socket.socket, count: int, timeout: float = 5.0) -> list[sia_dc09.Message]:
    reader = sia_dc09.FrameReader()
    out: list[sia_dc09.Message] = []
    sock.settimeout(timeout)
    while len(out) < count:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            break
        if not data:
            break
        for item in reader.feed(data):
            assert isinstance(item, sia_dc09.Frame), item
            message = sia_dc09.parse_message(item, key=sia_dc09.parse_key(KEY))
            assert isinstance(message, sia_dc09.Message), message
            out.append(message)
    return out


def test_an_ack_only_for_a_committed_event_and_a_resent_frame_stored_once(receiver):
    """Invariant 1 (durable before acknowledged) and 2 (nothing doubled)."""
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        frame = _frame(7)
        sock.sendall(frame)
        (ack,) = _replies(sock, 1)
        assert (ack.id, ack.sequence, ack.account) == ("ACK", "0007", "1234")
        # The ACK left after the commit: the event is there now, read by another connection.
        signal = Signal.objects.get()
        assert signal.events[0]["code"] == "BA" and signal.events[0]["zone"] == "01"
        assert signal.events[0]["description"]
        sock.sendall(frame)  # the panel did not get its ACK and sends again
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
    assert Signal.objects.count() == 1


def test_frames_split_and_joined_in_any_way(receiver):
    stream = _frame(1) + _frame(2, data="#1234|NBR01") + _frame(3, data="#1234|NOP2")
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(stream[:5])
        sock.sendall(stream[5:60])
        sock.sendall(stream[60:])
        assert [r.sequence for r in _replies(sock, 3)] == ["0001", "0002", "0003"]
    assert Signal.objects.count() == 3


def test_bad_crc_gets_no_answer_and_the_connection_goes_on(receiver):
    good = _frame(4)
    bad = bytearray(_frame(5))
    bad[1:5] = b"0000" if bad[1:5] != b"0000" else b"1111"
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(bytes(bad))
        assert _replies(sock, 1, timeout=1.0) == []
        sock.sendall(good)
        assert [r.sequence for r in _replies(sock, 1)] == ["0004"]
    assert receiver.receiver.counts.get("error_crc") == 1


def test_unknown_account_nak_and_recorded_for_claiming(receiver, central):
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(1, account="9999", data="#9999|NBA01"))
        (nak,) = _replies(sock, 1)
    assert nak.id == "NAK" and nak.timestamp is not None and not nak.encrypted
    assert not Signal.objects.exists()
    assert DiscoveredAccount.objects.get().account == "9999"


def test_encrypted_frames_get_an_encrypted_ack_and_plain_ones_are_refused_when_required(receiver):
    key = sia_dc09.parse_key(KEY)
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(11, account="5678", data="#5678|NFA03", key=key))
        (ack,) = _replies(sock, 1)
        assert ack.id == "ACK" and ack.encrypted and ack.sequence == "0011"
        sock.sendall(_frame(12, account="5678", data="#5678|NFA03"))
        (nak,) = _replies(sock, 1)
        assert nak.id == "NAK"
    assert Signal.objects.get().encrypted is True


def test_a_stale_timestamp_gets_nak(receiver):
    old = _now() - timedelta(minutes=5)
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(3, timestamp=old))
        (nak,) = _replies(sock, 1)
    assert nak.id == "NAK" and not Signal.objects.exists()


def test_udp_and_contact_id(receiver):
    frame = sia_dc09.build_frame("ADM-CID", 21, "1234", "#1234|1130 01 003", timestamp=_now())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(frame, ("127.0.0.1", receiver.udp_port))
        (ack,) = _replies(sock, 1)
    assert ack.id == "ACK" and ack.sequence == "0021"
    signal = Signal.objects.get()
    assert (signal.transport, signal.events[0]["code"], signal.events[0]["zone"]) == ("udp", "130", "003")


def test_what_is_not_supported_gets_duh(receiver):
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(sia_dc09.build_frame("SIA-XYZ", 1, "1234", "x", timestamp=_now()))
        (duh,) = _replies(sock, 1)
    assert duh.id == "DUH" and not Signal.objects.exists()


def test_supervision_raises_late_to_test_and_the_next_frame_clears_it(receiver, central_op):
    from tocsin.arc.models import SupervisionFault

    services.account_set(actor=as_member(central_op), account="1234", poll_interval_s=300)
    run = receiver.receiver
    asyncio.run_coroutine_threadsafe(run.load_accounts(), receiver.loop).result(10)
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(sia_dc09.build_frame("NULL", 1, "1234", "", timestamp=_now()))
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
        later = datetime.now(UTC) + timedelta(seconds=300 + SUPERVISION_GRACE_S + 1)
        assert asyncio.run_coroutine_threadsafe(run.supervise(later), receiver.loop).result(10) == 1
        assert asyncio.run_coroutine_threadsafe(run.supervise(later), receiver.loop).result(10) == 0  # once
        fault = SupervisionFault.objects.get()
        assert fault.cleared_at is None and fault.last_seen is not None
        sock.sendall(_frame(2))  # the panel is back
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
    fault.refresh_from_db()
    assert fault.cleared_at is not None


def test_one_source_cannot_hold_every_connection(receiver, monkeypatch):
    from tocsin.arc import receiver as module

    monkeypatch.setattr(module, "MAX_CONNECTIONS_PER_SOURCE", 2)
    first = socket.create_connection(("127.0.0.1", receiver.tcp_port))
    second = socket.create_connection(("127.0.0.1", receiver.tcp_port))
    try:
        first.sendall(_frame(1))
        assert [r.id for r in _replies(first, 1)] == ["ACK"]
        second.sendall(_frame(2))
        assert [r.id for r in _replies(second, 1)] == ["ACK"]
        with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as third:
            third.settimeout(5)
            assert third.recv(100) == b""  # closed at once
        assert receiver.receiver.counts.get("connections_refused") == 1
    finally:
        first.close()
        second.close()


def test_metrics_in_prometheus_text(receiver):
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(1))
        _replies(sock, 1)
    text = receiver.receiver.metrics()
    assert 'tocsin_receiver_frames_total{outcome="ack"} 1' in text
    assert "tocsin_receiver_events_stored_total 1" in text


def test_metrics_served_over_http(receiver):
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(receiver.receiver.on_metrics, "127.0.0.1", 0), receiver.loop
    ).result(10)
    port = server.sockets[0].getsockname()[1]
    try:
        for path, status in (("/metrics", b"200"), ("/", b"404")):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                sock.settimeout(5)
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            assert answer.split(b" ")[1] == status
            if status == b"200":
                assert b"tocsin_receiver_accounts 2" in answer
    finally:
        server.close()


def test_kb_23_kb_24_what_verification_needs_is_kept_with_the_signal(receiver):
    """KB-23: detection code (zone), user and time travel with the signal; KB-24: a visual-verification
    link ([V…]); mobile personal alarms send their position ([X…] [Y…])."""
    extended = (("X", "E4.3517"), ("Y", "N50.8466"), ("V", "https://video.example/clip/77"))
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(9, data="#1234|Nri2/id12/HA03", extended=extended))
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
    signal = Signal.objects.get()
    assert [list(x) for x in extended] == signal.extended
    event = signal.events[0]
    assert (event["code"], event["zone"], event["area"], event["user"]) == ("HA", "03", "2", "12")


def test_a_panel_on_local_time_is_read_in_its_zone(receiver, central_op):
    services.account_set(actor=as_member(central_op), account="1234", device_tz="Europe/Brussels")
    asyncio.run_coroutine_threadsafe(receiver.receiver.load_accounts(), receiver.loop).result(10)
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("Europe/Brussels")).replace(microsecond=0, tzinfo=UTC)  # wall clock, sent as is
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(_frame(5, timestamp=local))
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
    stored = Signal.objects.get().panel_time
    assert abs((datetime.now(UTC) - stored).total_seconds()) < 30


def test_a_malformed_message_with_a_good_crc_gets_no_answer(receiver):
    body = b'"SIA-DCS"0001L0#1234[#1234|NBA01'  # the data block never closes
    malformed = b"\n%04X%04X" % (sia_dc09.crc16(body), len(body)) + body + b"\r"
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(malformed)
        assert _replies(sock, 1, timeout=1.0) == []
        sock.sendall(_frame(2))
        assert [r.id for r in _replies(sock, 1)] == ["ACK"]
    assert "nak_unknown_account" not in receiver.receiver.counts
    assert not DiscoveredAccount.objects.exists()


def _call(running: Running, coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run_coroutine_threadsafe(coroutine, running.loop).result(10)


def test_supervision_is_shared_by_two_receivers_watching_the_same_panels(receiver, central_op, central):
    """A panel polling only through the backup receiver is not late for the primary; a fault one copy
    raised is cleared by a frame the other copy stored."""
    from tocsin.arc.models import ReceiverAccount, SupervisionFault

    services.account_set(actor=as_member(central_op), account="1234", poll_interval_s=300)
    backup = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    try:
        _call(receiver, receiver.receiver.load_accounts())
        with socket.create_connection(("127.0.0.1", backup.tcp_port)) as sock:
            sock.sendall(sia_dc09.build_frame("NULL", 1, "1234", "", timestamp=_now()))
            assert [r.id for r in _replies(sock, 1)] == ["ACK"]
        _call(backup, backup.receiver.share_seen())
        assert ReceiverAccount.objects.get(account="1234").last_seen is not None
        soon = datetime.now(UTC) + timedelta(seconds=250)
        assert _call(receiver, receiver.receiver.supervise(soon)) == 0  # the backup heard it: not late
        later = datetime.now(UTC) + timedelta(seconds=300 + SUPERVISION_GRACE_S + 1)
        assert _call(receiver, receiver.receiver.supervise(later)) == 1
        assert _call(backup, backup.receiver.supervise(later)) == 0  # one fault, not two
        _call(backup, backup.receiver.load_accounts())  # the backup learns of the open fault
        with socket.create_connection(("127.0.0.1", backup.tcp_port)) as sock:
            sock.sendall(_frame(2))
            assert [r.id for r in _replies(sock, 1)] == ["ACK"]
        assert SupervisionFault.objects.get().cleared_at is not None
    finally:
        backup.stop()


def test_a_fault_is_cleared_by_a_frame_the_other_copy_shares_later(receiver, central_op, central):
    from tocsin.arc.models import SupervisionFault

    services.account_set(actor=as_member(central_op), account="1234", poll_interval_s=300)
    _call(receiver, receiver.receiver.load_accounts())
    later = datetime.now(UTC) + timedelta(seconds=300 + SUPERVISION_GRACE_S + 1)
    assert _call(receiver, receiver.receiver.supervise(later)) == 1  # never heard since it was set up
    backup = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    try:
        backup.receiver.committer.open_faults.clear()  # as if it loaded its accounts before the fault
        with socket.create_connection(("127.0.0.1", backup.tcp_port)) as sock:
            sock.sendall(_frame(3))
            assert [r.id for r in _replies(sock, 1)] == ["ACK"]
        assert SupervisionFault.objects.get().cleared_at is None
        _call(backup, backup.receiver.share_seen())
        assert SupervisionFault.objects.get().cleared_at is not None
    finally:
        backup.stop()


def test_unknown_accounts_not_recorded_when_discovery_is_off(central_op, central):
    running = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk, discover=False))
    try:
        with socket.create_connection(("127.0.0.1", running.tcp_port)) as sock:
            sock.sendall(_frame(1, account="9999", data="#9999|NBA01"))
            assert [r.id for r in _replies(sock, 1)] == ["NAK"]
        assert running.receiver.counts["nak_unknown_account"] == 1
        assert not DiscoveredAccount.objects.exists()
    finally:
        running.stop()


def test_many_frames_in_one_write_are_answered_in_order(receiver):
    """A panel sending faster than it reads: every frame answered, in the order sent, the NAK of a stale
    frame in its place between ACKs that waited for their commit."""
    stale = _now() - timedelta(minutes=5)
    frames = [_frame(n, data=f"#1234|NBA{n % 100:02d}", timestamp=stale if n == 150 else _now()) for n in range(300)]
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as sock:
        sock.sendall(b"".join(frames))
        replies = _replies(sock, 300, timeout=20)
    assert [r.sequence for r in replies if r.id == "ACK"] == [f"{n:04d}" for n in range(300) if n != 150]
    assert [i for i, r in enumerate(replies) if r.id == "NAK"] == [150]
    assert Signal.objects.count() == 299


def test_an_idle_connection_is_closed(central_op, central, monkeypatch):
    from tocsin.arc import receiver as module

    monkeypatch.setattr(module, "IDLE_TIMEOUT_S", 0.4)
    running = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    try:
        with socket.create_connection(("127.0.0.1", running.tcp_port)) as sock:
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed by the receiver, not by the test's timeout
        assert running.receiver.counts["closed_idle"] == 1
        assert "tocsin_receiver_connections_closed_idle_total 1" in running.receiver.metrics()
    finally:
        running.stop()
