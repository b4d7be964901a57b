"""Our SMTP client against real servers on loopback: aiosmtpd (lock-step) and the counting sink (pipelined)."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time

import pytest

from tests.conftest import run_async
from tests.peers.smtp import SmtpServer
from tests.peers.smtp_sink import serve
from tocsin.protocols.smtp import Envelope, SmtpClient, SmtpError, dot_stuff


def test_dot_stuffing_doubles_leading_dots_and_ends_with_crlf():
    assert dot_stuff(b".first\r\nmiddle\r\n.\r\n..two") == b"..first\r\nmiddle\r\n..\r\n...two\r\n"
    assert dot_stuff(b"plain\r\n") == b"plain\r\n"


def _message(to: str, body: str) -> bytes:
    return f"From: a@tocsin.invalid\r\nTo: {to}\r\nSubject: t\r\n\r\n{body}\r\n".encode()


def test_lock_step_dialogue_keeps_lines_that_start_with_a_dot_and_reports_each_refusal():
    with SmtpServer() as server:

        async def go():
            client = SmtpClient("127.0.0.1", server.port, timeout=5)
            await client.connect(starttls="never")
            assert not client.pipelining  # aiosmtpd does not offer it
            outcomes = await client.send_many([
                Envelope("bounce@tocsin.invalid", "a@example.be", _message("a@example.be", ".hidden line\r\n.")),
                Envelope("bounce@tocsin.invalid", "x@refused.example", _message("x@refused.example", "no")),
                Envelope("bounce@tocsin.invalid", "b@example.be", _message("b@example.be", "yes")),
            ])  # fmt: skip
            await client.quit()
            return outcomes

        outcomes = run_async(go, timeout=20)
        received = server.mailbox.messages
    assert [o.reply.code for o in outcomes] == [250, 550, 250]
    assert [o.sent for o in outcomes] == [True, False, True]
    assert [m[1] for m in received] == [["a@example.be"], ["b@example.be"]]
    assert received[0][2].get_content().splitlines() == [".hidden line", "."]


@pytest.fixture
def sink():
    count = multiprocessing.Value("l", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threading.Thread(target=serve, args=(port, count), daemon=True).start()
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.02)
    return port, count


def test_pipelined_dialogue_sends_one_group_per_message_and_keeps_refusals_in_order(sink):
    port, count = sink

    async def go():
        client = SmtpClient("127.0.0.1", port, timeout=5)
        await client.connect(starttls="never")
        assert client.pipelining
        envelopes = [
            Envelope("b@tocsin.invalid", f"p{i}@example.be", _message(f"p{i}@example.be", "x")) for i in range(50)
        ]
        envelopes.insert(
            10, Envelope("b@tocsin.invalid", "gone@refused.example", _message("gone@refused.example", "x"))
        )
        envelopes.append(Envelope("b@tocsin.invalid", "last@refused.example", _message("last@refused.example", "x")))
        outcomes = await client.send_many(envelopes)
        await client.quit()
        return outcomes

    outcomes = run_async(go, timeout=20)
    codes = [o.reply.code for o in outcomes]
    assert len(codes) == 52 and codes[10] == 550 and codes[-1] == 550
    assert codes.count(250) == 50 and count.value == 50


def test_a_server_that_is_not_there_is_an_error_not_a_hang():
    async def go():
        client = SmtpClient("127.0.0.1", 1, timeout=2)
        with pytest.raises(OSError):
            await client.connect()

    run_async(go, timeout=10)


def test_a_broken_dialogue_says_what_was_answered_before_it_broke():
    """A server that hangs up after the first message: the first outcome is kept, the rest is an error."""

    async def go():
        import asyncio

        async def one_then_hang_up(reader, writer):
            writer.write(b"220 hi\r\n")
            await reader.readline()
            writer.write(b"250 hi\r\n")
            for reply in (b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"):
                await reader.readline()
                writer.write(reply)
            while (await reader.readline()) != b".\r\n":
                pass
            writer.write(b"250 queued\r\n")
            await reader.readline()  # MAIL of the second message
            writer.close()

        server = await asyncio.start_server(one_then_hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = SmtpClient("127.0.0.1", port, timeout=5)
        await client.connect(starttls="never")
        envelopes = [Envelope("b@t.invalid", f"{i}@example.be", _message(f"{i}@example.be", "x")) for i in range(3)]
        with pytest.raises(SmtpError) as caught:
            await client.send_many(envelopes)
        server.close()
        return caught.value

    error = run_async(go, timeout=20)
    assert [o.reply.code for o in error.partial] == [250] and not error.in_doubt


def _tls_server(tmp_path, common_name: str, san: str):
    """aiosmtpd requiring STARTTLS, with a self-signed certificate made by openssl for this test."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller

    from tests.peers.smtp import Mailbox

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={common_name}", "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)  # fmt: skip
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=server_context, require_starttls=True)
    client_context = ssl.create_default_context(cafile=str(cert))  # hostname checking stays on
    return controller, mailbox, port, client_context


def test_starttls_when_the_server_offers_it_and_the_message_goes_over_tls(tmp_path):
    controller, mailbox, port, client_context = _tls_server(tmp_path, "127.0.0.1", "IP:127.0.0.1")
    controller.start()
    try:

        async def go():
            client = SmtpClient("127.0.0.1", port, timeout=5)
            await client.connect(tls_context=client_context, starttls="always")
            tls = client.writer.get_extra_info("ssl_object") is not None
            outcomes = await client.send_many([Envelope("b@t.invalid", "a@example.be", _message("a@example.be", "x"))])
            await client.quit()
            return tls, outcomes

        tls, outcomes = run_async(go, timeout=20)
    finally:
        controller.stop()
    assert tls and outcomes[0].reply.code == 250 and len(mailbox.messages) == 1


def test_starttls_refuses_a_certificate_for_another_host(tmp_path):
    """A certificate the client trusts, but for another name: no credentials, no mail over it."""
    import ssl

    controller, mailbox, port, client_context = _tls_server(tmp_path, "evil.example", "DNS:evil.example")
    controller.start()
    try:

        async def go():
            client = SmtpClient("127.0.0.1", port, timeout=5)
            with pytest.raises(ssl.SSLCertVerificationError):
                await client.connect(tls_context=client_context, starttls="always", username="u", password="p")
            client.close()

        run_async(go, timeout=20)
    finally:
        controller.stop()
    assert mailbox.messages == []


def test_commands_refuse_addresses_that_would_inject_smtp():
    client = SmtpClient("127.0.0.1")
    with pytest.raises(ValueError):
        client._commands(Envelope("a@t.invalid", "x@example.be>\r\nRCPT TO:<y@example.be", b""))


def test_a_server_that_stops_answering_times_out_without_cutting_off_a_slow_one():
    """Replies 0.3 s apart pass a 1 s timeout (it is per reply, not per batch); silence ends it."""

    async def go():
        import asyncio

        async def slow_then_silent(reader, writer):
            writer.write(b"220 hi\r\n")
            await reader.readline()
            writer.write(b"250 hi\r\n")
            for _message in range(2):
                for reply in (b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"):
                    await reader.readline()
                    await asyncio.sleep(0.3)
                    writer.write(reply)
                while (await reader.readline()) != b".\r\n":
                    pass
                writer.write(b"250 queued\r\n")
            await reader.read()  # says nothing more

        server = await asyncio.start_server(slow_then_silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = SmtpClient("127.0.0.1", port, timeout=1)
        await client.connect(starttls="never")
        envelopes = [Envelope("b@t.invalid", f"{i}@example.be", _message(f"{i}@example.be", "x")) for i in range(3)]
        started = asyncio.get_running_loop().time()
        with pytest.raises(SmtpError) as caught:
            await client.send_many(envelopes)
        elapsed = asyncio.get_running_loop().time() - started
        server.close()
        return caught.value, elapsed

    error, elapsed = run_async(go, timeout=30)
    assert [o.reply.code for o in error.partial] == [250, 250]  # 2 x 4 slow replies: 2.4 s > 1 s, all fine
    assert "no reply within 1 s" in str(error) and elapsed < 5
