"""The alarm receiver (issue 8): Tocsin's `tocsin receiver` against pysiaalarm's asyncio server, same load.

pysiaalarm is the SIA DC-09 receiver Home Assistant uses: it sends its ACK before it calls its callback
and stores nothing. Tocsin commits every event to PostgreSQL before its ACK leaves (group commit). Both
run as their own process on loopback, one after the other in the same run, and are driven by the same
asyncio load generator: N panels, each its own TCP connection and its own account with an AES key, each
sending an encrypted SIA-DCS event (built with ``tocsin.protocols.sia_dc09.build_frame``), waiting for its
ACK (its framing, CRC, id and sequence checked), then sending the next. Each panel connects from its own
loopback address (127.0.x.y), as real panels do. The first second is warm-up and not counted. The events
are built before the clock starts (the generator shares the two cores with the receiver and PostgreSQL).

pysiaalarm is not a dependency of Tocsin: install it for this benchmark only,

    .venv/bin/pip install pysiaalarm==3.2.2

Prints name=value lines:
  panels, seconds               the load
  tocsin_events_per_s           events acknowledged per second by Tocsin (each committed before its ACK)
  pysiaalarm_events_per_s       the same for pysiaalarm (ACK first, nothing stored)
  ratio                         tocsin / pysiaalarm (target ≥ 2)
  tocsin_p50_ack_ms, tocsin_p99_ack_ms          send → ACK per event (target p99 ≤ 50)
  pysiaalarm_p50_ack_ms, pysiaalarm_p99_ack_ms
  tocsin_receiver_cpu_us_per_event, pysiaalarm_cpu_us_per_event
                                CPU of the receiver's process per event (PostgreSQL's not included)
  load_cpu_share_tocsin, load_cpu_share_pysiaalarm    the load generator's share of one core
  tocsin_acked, tocsin_stored   every event Tocsin acknowledged, warm-up included, and the rows in
                                arc_signal afterwards (must be equal)

    .venv/bin/python bench/receiver.py [--panels 50] [--seconds 10] [--profile]

With --profile the Tocsin receiver runs under pyinstrument (in-process, same load) and its profile
goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, free_port, percentile, scratch_database, wait_listening

WARM_UP_S = 1.0
PREBUILT_PER_S = 4000  # events built ahead per second of load, all panels together; more are built as they go


def _key(i: int) -> str:
    return f"{0xA0000 + i:016X}"  # 16 hex digits typed as ASCII: an AES-128 key both receivers read alike


def _account(i: int) -> str:
    return f"{0x1000 + i:X}"


def _source(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------- the load


class LoadError(Exception):
    pass


def _event(i: int, n: int, timestamp: datetime) -> bytes:
    """Panel i's n-th event, encrypted (with a receiver number: pysiaalarm echoes "None" in its ACK to a
    frame without one)."""
    from tocsin.protocols import sia_dc09

    account = _account(i)
    data = f"#{account}|Nri1/BA{n % 1000:03d}"
    key = sia_dc09.parse_key(_key(i))
    return sia_dc09.build_frame("SIA-DCS", n % 10_000, account, data, receiver="1", timestamp=timestamp, key=key)


def _prebuilt(panels: int, per_panel: int) -> list[list[bytes]]:
    """The panels' first events, built before the clock starts so that the load generator costs little
    CPU while it runs (the receivers share the machine with it). Their timestamp lies a little ahead,
    within both receivers' window (-40 s / +20 s) for the whole run."""
    stamp = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    return [[_event(i, n, stamp) for n in range(per_panel)] for i in range(panels)]


async def _panel(
    i: int, port: int, until: float, counted_from: float, latencies: list[float], ready: list[bytes]
) -> int:
    """One panel: send, wait for the ACK, next. Returns how many events were acknowledged."""
    from tocsin.protocols import sia_dc09

    # Each panel from its own loopback address, as real panels (the receiver caps connections per address).
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(_source(i), 0))
    frames = sia_dc09.FrameReader()
    acked, n, start = 0, 0, time.monotonic()
    try:
        while time.monotonic() < until:
            sequence = n % 10_000
            frame = ready[n] if n < len(ready) else _event(i, n, datetime.now(UTC).replace(microsecond=0))
            sent = time.monotonic()
            writer.write(frame)
            expected = b'"*ACK"%04d' % sequence  # encrypted, as the event was
            replied = False
            while not replied:
                data = await asyncio.wait_for(reader.read(4096), 30)
                if not data:
                    raise LoadError(
                        f"panel {i}: connection closed after {acked} events, {time.monotonic() - start:.2f} s"
                    )
                for item in frames.feed(data):  # framing and CRC checked; the ACK's id and sequence read as sent
                    if not isinstance(item, sia_dc09.Frame) or not item.message.startswith(expected):
                        raise LoadError(f"panel {i}: not the ACK to {sequence}: {item!r}")
                    replied = True
            done = time.monotonic()
            acked += 1
            n += 1
            if sent >= counted_from:
                latencies.append((done - sent) * 1000)
    finally:
        writer.close()
    return acked


async def _load(port: int, panels: int, seconds: float) -> tuple[int, float, list[float], float]:
    """(all events acknowledged, events per second after the warm-up, latencies in ms after the warm-up,
    CPU seconds the load generator used while it ran)."""
    ready = _prebuilt(panels, int(PREBUILT_PER_S * (seconds + WARM_UP_S) / panels))
    cpu = time.process_time()
    start = time.monotonic()
    counted_from, until = start + WARM_UP_S, start + WARM_UP_S + seconds
    latencies: list[float] = []
    acked = await asyncio.gather(*(_panel(i, port, until, counted_from, latencies, ready[i]) for i in range(panels)))
    return sum(acked), len(latencies) / seconds, sorted(latencies), time.process_time() - cpu


# ------------------------------------------------------------------------------------ pysiaalarm


def serve_pysiaalarm(port: int, panels: int) -> None:
    """The child process: pysiaalarm's asyncio TCP server with the panels' accounts, a callback that does
    nothing (Home Assistant's fires an event on its bus)."""
    from pysiaalarm import SIAAccount
    from pysiaalarm.aio import SIAClient

    async def callback(event: object) -> None:
        return None

    async def main() -> None:
        accounts = [SIAAccount(_account(i), _key(i)) for i in range(panels)]
        client = SIAClient("127.0.0.1", port, accounts, function=callback)
        await client.async_start()
        await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# ------------------------------------------------------------------------------------------ main


def _setup_central(panels: int) -> int:
    from tests.organisations.factories import OrganisationFactory, UserFactory

    from tocsin.alarms.services import arn_assign, as_member
    from tocsin.arc import services

    def org(kind: str, name: str):  # type: ignore[no-untyped-def]
        return OrganisationFactory(kind=kind, name=name, nis_code="", sms_sender="", status="active")

    registry = org("registry_admin", "Meldpunt")
    admin = UserFactory(organisation=registry, email="admin@meldpunt.be", roles=["admin"])
    central = org("alarm_central", "Centrale Noord")
    operator = UserFactory(organisation=central, email="op@noord.be", roles=["arc_operator"])
    arn_assign(actor=as_member(admin), organisation_id=central.pk, number="N001")
    for i in range(panels):
        services.account_set(
            actor=as_member(operator), account=_account(i), key=_key(i), key_is_hex=False, encryption_required=True
        )
    return int(central.pk)


def _profile_tocsin(url: str, central_id: int, panels: int, seconds: float) -> None:
    """The receiver in this process under pyinstrument, the same load from a child process."""
    from pyinstrument import Profiler

    from tocsin.arc.receiver import Receiver

    async def run() -> None:
        receiver = Receiver(dsn=url, central_id=central_id)
        servers = await receiver.serve(host="127.0.0.1", tcp_ports=[0], udp_ports=[])
        port = servers[0].sockets[0].getsockname()[1]
        load = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load-only", str(port), "--panels", str(panels), "--seconds", str(seconds),
            cwd=ROOT,
        )  # fmt: skip
        await asyncio.sleep(WARM_UP_S)
        profiler = Profiler(async_mode="disabled")
        profiler.start()
        cpu = time.process_time()
        await load.wait()
        profiler.stop()
        print(f"receiver_cpu_us_per_event={(time.process_time() - cpu) / receiver.committer.stored * 1e6:.0f}"
              f" (over all events, warm-up included) commits={receiver.committer.commits}"
              f" events={receiver.committer.stored}", file=sys.stderr)  # fmt: skip
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)

    asyncio.run(run())


def _drive(
    what: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace
) -> tuple[int, float, list[float], float, float]:
    """Start a receiver, put the load on it, stop it: (events acknowledged, events per second, latencies,
    the receiver's CPU seconds, the load generator's CPU seconds)."""
    with tempfile.TemporaryFile() as log:  # the receiver's output, shown if it fails
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(process, port, what)
            cpu = _cpu_s(process.pid)
            acked, rate, latencies, load_cpu = asyncio.run(_load(port, args.panels, args.seconds))
            return acked, rate, latencies, _cpu_s(process.pid) - cpu, load_cpu
        except BaseException:
            log.seek(0)
            print(f"{what}'s output:\n{log.read().decode(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        finally:
            if process.poll() is None:
                process.terminate()  # every event it acknowledged is already where it keeps it
                process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panels", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="profile Tocsin's receiver (pyinstrument, on stderr)")
    parser.add_argument("--serve-pysiaalarm", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.serve_pysiaalarm:
        serve_pysiaalarm(args.serve_pysiaalarm, args.panels)
        return
    if args.load_only:
        _acked, per_s, latencies, _cpu = asyncio.run(_load(args.load_only, args.panels, args.seconds))
        print(f"events_per_s={per_s:.0f} p99_ack_ms={percentile(latencies, 0.99):.1f}", file=sys.stderr)
        return
    try:
        import pysiaalarm  # noqa: F401
    except ImportError:
        raise SystemExit("pysiaalarm is not installed: .venv/bin/pip install pysiaalarm==3.2.2") from None

    with scratch_database() as (url, env):
        central_id = _setup_central(args.panels)
        if args.profile:
            _profile_tocsin(url, central_id, args.panels, args.seconds)
            return

        port = free_port()
        command = [sys.executable, "-m", "tocsin.cli", "receiver", "--central", str(central_id), "--tcp", str(port)]
        t_acked, t_rate, t_lat, t_cpu, t_load_cpu = _drive("tocsin receiver", command, env, port, args)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM arc_signal").fetchone()
        stored = int(row[0]) if row else 0

        port = free_port()
        command = [sys.executable, __file__, "--serve-pysiaalarm", str(port), "--panels", str(args.panels)]
        sia_env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        p_acked, p_rate, p_lat, p_cpu, p_load_cpu = _drive("pysiaalarm", command, sia_env, port, args)

    print(f"panels={args.panels}")
    print(f"seconds={args.seconds:g}")
    print(f"tocsin_events_per_s={t_rate:.0f}")
    print(f"pysiaalarm_events_per_s={p_rate:.0f}")
    print(f"ratio={t_rate / p_rate:.2f}")
    print(f"tocsin_p50_ack_ms={percentile(t_lat, 0.50):.1f}")
    print(f"tocsin_p99_ack_ms={percentile(t_lat, 0.99):.1f}")
    print(f"pysiaalarm_p50_ack_ms={percentile(p_lat, 0.50):.1f}")
    print(f"pysiaalarm_p99_ack_ms={percentile(p_lat, 0.99):.1f}")
    seconds = args.seconds + WARM_UP_S
    print(f"tocsin_receiver_cpu_us_per_event={t_cpu / t_acked * 1e6:.0f}")
    print(f"pysiaalarm_cpu_us_per_event={p_cpu / p_acked * 1e6:.0f}")
    print(f"load_cpu_share_tocsin={t_load_cpu / seconds:.2f}")
    print(f"load_cpu_share_pysiaalarm={p_load_cpu / seconds:.2f}")
    print(f"tocsin_acked={t_acked}")
    print(f"tocsin_stored={stored}")
    if stored != t_acked:
        raise SystemExit(f"{t_acked} events acknowledged but {stored} stored")


if __name__ == "__main__":
    main()
