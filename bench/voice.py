"""Voice calls (issue 10): how many simultaneous calls one worker keeps on time, and calls a minute.

Everything goes through the real dispatcher (``tocsin.delivery.dispatcher.Dispatcher``) in a worker process
of its own, against SIPp on loopback (``tests.peers.phones.Sipp``), in a scratch database:

- ``concurrent_calls_max``: for each step N (``--steps``), a send request of N voice calls to a trunk of
  concurrency N, INVITEs paced at ``--rate`` a second, SIPp ``answer_load`` as the phones (PCMA, audio back
  for the whole call, so the worker receives RTP too). The message is rendered long enough (espeak-ng, as in
  production) that all N calls are up together for ``--steady`` seconds after the ramp. The worker's own
  media clock (``MediaClock``: ``late_ticks`` = ticks more than one 20 ms frame late, an audible gap) is
  reset when the N-th call's media starts and read when the first call's media stops: that is the steady
  period. A step is clean when N calls were up together, no tick was late in the steady period, every call
  was delivered and SIPp exited 0. ``concurrent_calls_max`` is the largest N with every step up to it clean
  (the steps stop after the first one that is not, unless ``--all-steps``). Above 1,000 calls (a trunk's
  most) the calls go to two trunks, each with its own SIPp; ``--sipps 2`` does that at every step (to see
  whether one SIPp holds the calls back). Trunks of one worker share its one media clock.
- ``calls_per_min``: ``--calls`` short calls (the text "Test.", which the product follows with its "press 1"
  sentence: a ~5 s prompt), repeat 1, no answering-machine detection, no wait for a 1, through a trunk of
  ``--cpm-rate`` calls a second and ``--cpm-concurrency`` simultaneous calls, SIPp ``answer_silent``;
  measured from the first call started (``delivery_attempt.started_at``, just before its INVITE) to the
  last delivery final (``delivery_delivery.final_at``).

Prints name=value lines; per step ``step_<N>_…``:
  late_ticks, max_late_ms         the clock's own counters over the steady period (0 late ticks: clean)
  probe_p99_late_ms, probe_max_late_ms
                                  per-tick lateness seen by a probe stream inside the clock's pass (its
                                  position in the pass included), steady period
  all_late_ticks, all_max_late_ms the probe over the whole step: ramp up, steady, ramp down
  ramp_max_late_ms, drain_max_late_ms
                                  the probe's worst tick while the calls were coming in, and going
  all_gc_max_ms, all_gc_max_generation, all_gc_full
                                  the longest garbage collection of the whole step, its generation, and
                                  how many full (generation 2) collections ran
  steady_s                        how long the N calls were up together
  cpu_pct                         the worker process's CPU over the steady period (100 = one core)
  gc_max_ms                       the longest garbage collection in the worker during the steady period
  sipp_cpu_pct, machine_busy_pct  SIPp's CPU (100 = one core) and the whole machine's (100 = both cores)
  rtp_in_per_call_s               UDP datagrams delivered on the machine during the steady period, per call
                                  and second: 50 when the worker takes in SIPp's whole stream (SIPp's
                                  answer_load does not read the RTP it is sent: the kernel drops that at its
                                  media socket, which the worker's sending does not notice)
  worker_udp_drops                datagrams the kernel dropped at the worker's sockets (its receive buffers
                                  full: the worker did not read in time), counted at the end of the steady
                                  period; sipp_media_drops: the same at SIPp's media socket (expected)
  others_busy_pct                 the machine's busy share less the worker's and SIPp's: PostgreSQL and any
                                  other work (a few % when the machine is quiet)
  sipp_retransmissions            SIPp's retransmissions (its 200 OK again when our ACK is late or lost)
  sipp_calls                      calls each SIPp saw (one per trunk)
  slow_answers, max_answer_ms     calls answered more than 450 ms after they started (SIPp answers at once:
                                  an INVITE or its answer was lost and Timer A sent it again, 500 ms), and
                                  the slowest start-to-answer
  delivered, sipp_exit, clean     sipp_exit -1: a SIPp still waited for calls (stopped)

    .venv/bin/python bench/voice.py                       # steps 100 … 1000, then 1,000 calls
    .venv/bin/python bench/voice.py --quick               # a smoke run in about a minute
    .venv/bin/python bench/voice.py --steps 600 800 1000 --sipps 2 --no-cpm
    .venv/bin/python bench/voice.py --steps 800 --no-cpm --py-spy /tmp/prof   # py-spy record, steady period

Run from the repository root (never from bench/). Needs sipp, espeak-ng and sox (``make peers``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path
from typing import Any

from common import ROOT, percentile, scratch_database

EVENT = "@voice "  # the worker's lines to the driver: EVENT + JSON
SENTENCE = (
    "Dit is een test van het alarmsysteem van de overheid. Er is geen noodsituatie. "
    "Blijf kalm en volg de berichten van de hulpdiensten. "
)
CLOCK_HZ = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------ the worker (child)


class Probe:
    """A stream the media clock ticks like the calls' streams: it notes when each pass reaches it, counts the
    calls with media (the clock's other streams) and marks the steady period (``target`` of them at once).

    At the start of the steady period it resets the clock's own counters (``MediaClock.reset_stats``); at its
    end it reads them. It sends nothing."""

    def __init__(self, clock: Any, target: int) -> None:
        self.clock = clock
        self.target = target
        self.loop = asyncio.get_running_loop()
        self.due: float | None = None
        self.state = "idle"  # idle → ramp → steady → draining → idle
        self.all_late = array("d")
        self.steady_late = array("d")
        self.marks: dict[str, Any] = {}
        self.phase_max: dict[str, float] = {}
        self.gc_started = 0.0
        self.gc_max_s = 0.0  # steady period
        self.gc_all_max: tuple[float, int] = (0.0, -1)  # whole step: (seconds, generation)
        self.gc_full = 0  # generation-2 collections in the whole step
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
            return
        took = time.perf_counter() - self.gc_started
        if self.state == "steady":
            self.gc_max_s = max(self.gc_max_s, took)
        if self.state != "idle":
            self.gc_all_max = max(self.gc_all_max, (took, int(info.get("generation", -1))))
            self.gc_full += info.get("generation") == 2

    def tick(self) -> None:
        now = self.loop.time()
        if self.due is None:
            self.due = now
        late = max(0.0, now - self.due)
        self.due += 0.020  # the clock's own schedule, rebased the same way when far behind
        if now - self.due > 0.2:
            self.due = now
        calls = len(self.clock.streams) - 1
        if self.state == "idle" and calls > 0:
            self.state = "ramp"
            self.all_late = array("d")
            self.marks = {"first_media": time.time(), "cpu_first": _own_cpu()}
            self.phase_max, self.gc_all_max, self.gc_full = {}, (0.0, -1), 0
        if self.state in ("ramp", "steady", "draining"):
            self.all_late.append(late)
            self.phase_max[self.state] = max(self.phase_max.get(self.state, 0.0), late)
        if self.state == "steady":
            self.steady_late.append(late)
        if self.state == "ramp" and self.target and calls >= self.target:
            self.clock.reset_stats()
            self.state, self.steady_late, self.gc_max_s = "steady", array("d"), 0.0
            self.marks.update(steady_start=time.time(), cpu_steady=_own_cpu())
            _emit("steady_start", calls=calls)
        elif self.state == "steady" and calls < self.target:
            self.state = "draining"
            seconds = time.time() - self.marks["steady_start"]
            _emit(
                "steady_end",
                seconds=seconds,
                late_ticks=self.clock.late_ticks,
                max_late_ms=1000 * self.clock.max_late_s,
                ticks=self.clock.ticks,
                probe_p99_late_ms=1000 * percentile(list(self.steady_late), 0.99),
                probe_max_late_ms=1000 * max(self.steady_late, default=0.0),
                cpu_pct=100 * (_own_cpu() - self.marks["cpu_steady"]) / max(seconds, 1e-9),
                gc_max_ms=1000 * self.gc_max_s,
            )
        if self.state != "idle" and calls == 0:
            seconds = time.time() - self.marks["first_media"]
            values = list(self.all_late)
            _emit(
                "media_end",
                seconds=seconds,
                reached=self.state != "ramp",
                all_late_ticks=sum(1 for v in values if v > 0.020),
                all_max_late_ms=1000 * max(values, default=0.0),
                all_p99_late_ms=1000 * percentile(values, 0.99),
                all_cpu_pct=100 * (_own_cpu() - self.marks["cpu_first"]) / max(seconds, 1e-9),
                ramp_max_late_ms=1000 * self.phase_max.get("ramp", 0.0),
                drain_max_late_ms=1000 * self.phase_max.get("draining", 0.0),
                all_gc_max_ms=1000 * self.gc_all_max[0],
                all_gc_max_generation=self.gc_all_max[1],
                all_gc_full=self.gc_full,
            )
            self.state = "idle"


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _emit(event: str, **values: Any) -> None:
    sys.stdout.write(EVENT + json.dumps({"event": event, "at": time.time(), **values}) + "\n")
    sys.stdout.flush()


async def _worker(target: int) -> None:
    import django

    django.setup()
    from tocsin.delivery.channels.voice import MediaClock
    from tocsin.delivery.dispatcher import Dispatcher

    clock = MediaClock.of_loop()  # the one the voice channel will use: one clock per event loop
    probe = Probe(clock, target)
    clock.add(probe)  # type: ignore[arg-type]  # only tick() is called
    dispatcher = Dispatcher(os.environ["DATABASE_URL"], worker="bench-voice", idle_s=0.2)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, dispatcher.stop.set)
    _emit("started")
    await dispatcher.run()
    clock.remove(probe)
    _emit("stopped", cpu_s=_own_cpu())


# ------------------------------------------------------------------------------------ the driver


class Worker:
    """One worker process (this script with ``--worker``): its events, and hooks run as they arrive."""

    def __init__(self, env: dict[str, str], target: int, workdir: Path, hooks: dict[str, Any]) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.hooks = hooks
        self.log = workdir / f"worker-{target}.log"
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(target)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(EVENT):
                event = json.loads(line[len(EVENT) :])
                self.events[event["event"]] = event
                hook = self.hooks.get(event["event"])
                if hook is not None:
                    try:
                        hook(event)
                    except Exception as exc:  # noqa: BLE001 — keep reading the worker's events
                        print(f"# hook {event['event']}: {exc!r}", file=sys.stderr)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_HZ  # utime, stime (all threads)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def udp_counters() -> dict[str, int]:
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:]), strict=True))


def socket_drops(ports: set[int], pid: int | None) -> tuple[int, int]:
    """Receive drops of live UDP sockets on loopback from /proc/net/udp: (those bound to ``ports``, those
    the process ``pid`` holds)."""
    inodes = set()
    if pid is not None:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    theirs = mine = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 13:
            continue
        if int(fields[1].split(":")[1], 16) in ports:
            theirs += int(fields[12])
        elif fields[9] in inodes:
            mine += int(fields[12])
    return theirs, mine


class Snapshot:
    """CPU of SIPp processes and of the machine, and UDP counters, at one moment."""

    def __init__(self, sipp_pids: list[int], sipp_ports: set[int] | None = None, worker: int | None = None) -> None:
        self.at = time.monotonic()
        self.drops = socket_drops(sipp_ports or set(), worker) if sipp_ports else (0, 0)
        self.sipp = sum(process_cpu_s(pid) for pid in sipp_pids)
        self.machine = machine_cpu()
        self.udp = udp_counters()

    def since(self, before: Snapshot) -> dict[str, float]:
        wall = max(self.at - before.at, 1e-9)
        busy, total = (a - b for a, b in zip(self.machine, before.machine, strict=True))
        return {
            "wall": wall,
            "sipp_cpu_pct": 100 * (self.sipp - before.sipp) / wall,
            "machine_busy_pct": 100 * busy / max(total, 1),
            "udp_in": self.udp["InDatagrams"] - before.udp["InDatagrams"],
            "udp_drops": self.udp["RcvbufErrors"] - before.udp["RcvbufErrors"],
        }


def configure_trunks(addresses: list[tuple[str, int]], *, rate: float, concurrency: int, **config: Any) -> None:
    from tocsin.delivery import services
    from tocsin.delivery.models import Gateway

    Gateway.objects.filter(kind="sip").update(enabled=False)
    share = len(addresses)
    for i, (host, port) in enumerate(addresses):
        services.gateway_set(
            name=f"bench-trunk-{i}", kind="sip", rate_per_s=rate / share, concurrency=max(1, concurrency // share),
            config={"server": f"{host}:{port}", "caller_id": "+3292000000", "machine_detection": False,
                    "ack_wait_s": 0, "repeat": 1, "pause_s": 0, "ring_timeout_s": 30, "retry_after_s": [],
                    "calls_per_worker": max(1, concurrency // share), **config},
        )  # fmt: skip


def send_request(org: Any, numbers: list[str], text: str) -> int:
    from tocsin.delivery import services
    from tocsin.delivery.domain import Channel, Priority

    request = services.send_request_create(
        organisation_id=org.pk, created_by_id=None, purpose="bench", priority=Priority.ALERT,
        content={"nl": {"text": text}}, recipients={Channel.VOICE: [(n, "nl") for n in numbers]},
    )  # fmt: skip
    return int(request.pk)


def prerender(url: str, request_id: int, text: str) -> float:
    """The prompt rendered and stored as the worker's first call would (once per request and language): its
    seconds. Done before the worker starts so the first calls do not wait for espeak-ng."""
    from tocsin.delivery.speech import SpeechStore

    async def go() -> float:
        store = SpeechStore(url)
        try:
            return (await store.prompt(request_id, "nl", text)).seconds
        finally:
            await store.close()

    return asyncio.run(go())


def long_text(seconds: float) -> str:
    """A Dutch text whose prompt (with the "press 1" sentence) lasts at least ``seconds``."""
    from tocsin.delivery.speech import render, script

    per, base = render(script(SENTENCE, "nl"), "nl").seconds, render(script("", "nl"), "nl").seconds
    count = max(1, int((seconds - base) / max(per - base, 0.1)) + 1)
    while render(script(SENTENCE * count, "nl"), "nl").seconds < seconds:
        count += 1
    return SENTENCE * count


def wait_final(url: str, request_ids: list[int], timeout: float, worker: Worker) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM delivery_delivery WHERE request_id = ANY(%s) AND state IN ('queued', 'claimed')",
                [request_ids],
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            if worker.process.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.process.returncode}:\n{worker.tail()}")
            time.sleep(0.5)
    raise SystemExit(f"requests {request_ids}: calls not all ended within {timeout:.0f} s\n{worker.tail()}")


def outcomes(url: str, request_ids: list[int]) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        states = dict(
            conn.execute(  # type: ignore[arg-type]
                "SELECT state, count(*) FROM delivery_delivery WHERE request_id = ANY(%s) GROUP BY state", [request_ids]
            ).fetchall()
        )
        row = conn.execute(
            "SELECT EXTRACT(EPOCH FROM min(a.started_at)), EXTRACT(EPOCH FROM max(d.final_at)),"
            " EXTRACT(EPOCH FROM max(a.ended_at)), string_agg(DISTINCT a.outcome || ' ' || a.detail, '; '),"
            " count(*) FILTER (WHERE a.answered_at - a.started_at > interval '450 ms'),"
            " EXTRACT(EPOCH FROM max(a.answered_at - a.started_at))"
            " FROM delivery_delivery d JOIN delivery_attempt a ON a.delivery_id = d.id WHERE d.request_id = ANY(%s)",
            [request_ids],
        ).fetchone()
    assert row is not None
    return {"states": states, "first_start": row[0], "last_final": row[1], "last_end": row[2], "kinds": row[3],
            "slow_answers": row[4], "max_answer_ms": 1000 * float(row[5] or 0)}  # fmt: skip


def _sipp_exit(sipp: Any) -> int:
    """SIPp's exit code once it has had its calls; -1 when it still waits for some (stopped then)."""
    try:
        return int(sipp.wait(30))
    except TimeoutError:
        sipp.stop()
        return -1


def run_step(url: str, env: dict[str, str], org: Any, workdir: Path, args: argparse.Namespace, n: int) -> dict:
    from tests.peers.phones import Sipp

    ramp_s = n / args.rate
    text = long_text(ramp_s + args.steady + 3.0)
    share = max(args.sipps, -(-n // 1000))  # a trunk takes at most 1,000 calls: more trunks (and SIPps) above
    sipps = [Sipp("answer_load", workdir / f"step-{n}-sipp-{i}", calls=len(range(i, n, share))) for i in range(share)]
    for sipp in sipps:
        sipp.start()
    try:
        # A delivery is bound to its gateway when it is written: one send request per trunk, each written
        # while only its trunk is enabled; then all of them.
        from tocsin.delivery.models import Gateway

        configure_trunks([s.address for s in sipps], rate=args.rate, concurrency=n)
        names = [f"bench-trunk-{i}" for i in range(share)]
        request_ids = []
        for i, sipp in enumerate(sipps):
            Gateway.objects.filter(name__in=names).update(enabled=False)
            Gateway.objects.filter(name=names[i]).update(enabled=True)
            numbers = [f"+3247{j:07d}" for j in range(n) if j % share == i]
            assert len(numbers) == sipp.calls
            request_ids.append(send_request(org, numbers, text))
        Gateway.objects.filter(name__in=names).update(enabled=True)
        prompt_s = max(prerender(url, r, text) for r in request_ids)
        from django.db import connection

        connection.close()
        pids = [s.process.pid for s in sipps if s.process is not None]
        ports = {p for s in sipps for p in (s.port, s.media_port, s.media_port + 1, s.media_port + 2, s.media_port + 3)}
        marks: dict[str, Snapshot] = {}
        profilers: list[subprocess.Popen[bytes]] = []
        worker: Worker | None = None

        def steady_start(_event: dict[str, Any]) -> None:
            marks.setdefault("steady_start", Snapshot(pids))
            if args.py_spy and worker is not None:
                Path(args.py_spy).mkdir(parents=True, exist_ok=True)
                duration = max(1, int(args.steady * 0.8))
                spy = str(Path(sys.executable).parent / "py-spy")
                out = str(Path(args.py_spy) / f"step-{n}.txt")
                profilers.append(subprocess.Popen(
                    [spy, "record", "--pid", str(worker.process.pid), "--duration", str(duration), "--rate", "100",
                     "--nonblocking", "--format", "raw", "-o", out],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip

        hooks = {
            "steady_start": steady_start,
            "steady_end": lambda _e: marks.setdefault(
                "steady_end", Snapshot(pids, ports, worker.process.pid if worker else None)
            ),
        }
        begin = Snapshot(pids)
        worker = Worker(env, n, workdir, hooks)
        try:
            wait_final(url, request_ids, ramp_s + prompt_s + 120, worker)
        finally:
            worker.stop()
        end = Snapshot(pids)
        exits = [_sipp_exit(s) for s in sipps]
        errors = "".join(s.errors() for s in sipps)
        calls_seen = [len(s.spans()) for s in sipps]
        retransmissions = sum(int(s.stats()[-1].get("Retransmissions(C)", 0) or 0) for s in sipps if s.stats())
        for profiler in profilers:
            profiler.wait(60)
    finally:
        for sipp in sipps:
            sipp.stop()
    done = outcomes(url, request_ids)
    steady = worker.events.get("steady_end", {})
    media = worker.events.get("media_end", {})
    out: dict[str, Any] = {
        "prompt_s": prompt_s,
        "reached": int(bool(media.get("reached")) and bool(steady)),
        "steady_s": steady.get("seconds", 0.0),
        "late_ticks": steady.get("late_ticks", -1),
        "max_late_ms": steady.get("max_late_ms", float("nan")),
        "probe_p99_late_ms": steady.get("probe_p99_late_ms", float("nan")),
        "probe_max_late_ms": steady.get("probe_max_late_ms", float("nan")),
        "cpu_pct": steady.get("cpu_pct", float("nan")),
        "gc_max_ms": steady.get("gc_max_ms", float("nan")),
        "all_late_ticks": media.get("all_late_ticks", -1),
        "all_max_late_ms": media.get("all_max_late_ms", float("nan")),
        "all_cpu_pct": media.get("all_cpu_pct", float("nan")),
        "ramp_max_late_ms": media.get("ramp_max_late_ms", float("nan")),
        "drain_max_late_ms": media.get("drain_max_late_ms", float("nan")),
        "all_gc_max_ms": media.get("all_gc_max_ms", float("nan")),
        "all_gc_max_generation": media.get("all_gc_max_generation", -1),
        "all_gc_full": media.get("all_gc_full", -1),
    }
    if "steady_start" in marks and "steady_end" in marks:
        window = marks["steady_end"].since(marks["steady_start"])
        out["sipp_cpu_pct"] = window["sipp_cpu_pct"]
        out["machine_busy_pct"] = window["machine_busy_pct"]
        # What else used the machine: its busy share less the worker's and SIPp's (PostgreSQL, other work).
        cores = os.cpu_count() or 1
        out["others_busy_pct"] = window["machine_busy_pct"] - (out["cpu_pct"] + window["sipp_cpu_pct"]) / cores
        out["rtp_in_per_call_s"] = window["udp_in"] / (window["wall"] * n)
        out["worker_udp_drops"] = marks["steady_end"].drops[1]
        out["sipp_media_drops"] = marks["steady_end"].drops[0]
    out["udp_rcvbuf_errors"] = end.since(begin)["udp_drops"]
    out["sipp_retransmissions"] = retransmissions
    out["slow_answers"] = done["slow_answers"]
    out["max_answer_ms"] = done["max_answer_ms"]
    out["delivered"] = done["states"].get("delivered", 0)
    out["sipp_exit"] = max(exits) if min(exits) >= 0 else -1
    out["sipp_calls"] = "/".join(map(str, calls_seen))
    out["clean"] = int(
        out["reached"] == 1 and out["late_ticks"] == 0 and out["delivered"] == n and out["sipp_exit"] == 0
    )
    if not out["clean"]:
        out["why"] = f"states={done['states']} outcomes={done['kinds']} sipp_errors={errors[-300:]!r}"
    return out


def run_calls_per_min(url: str, env: dict[str, str], org: Any, workdir: Path, args: argparse.Namespace) -> dict:
    from tests.peers.phones import Sipp

    with Sipp("answer_silent", workdir / "cpm-sipp", calls=args.calls) as sipp:
        configure_trunks([sipp.address], rate=args.cpm_rate, concurrency=args.cpm_concurrency)
        request_id = send_request(org, [f"+3248{i:07d}" for i in range(args.calls)], "Test.")
        prompt_s = prerender(url, request_id, "Test.")
        from django.db import connection

        connection.close()
        worker = Worker(env, 0, workdir, {})
        try:
            wait_final(url, [request_id], args.calls / args.cpm_rate + 180, worker)
        finally:
            worker.stop()
        sipp_exit = _sipp_exit(sipp)
        most = sipp.max_concurrent()
        errors = sipp.errors()
    done = outcomes(url, [request_id])
    seconds = float(done["last_final"] - done["first_start"])
    media = worker.events.get("media_end", {})
    out = {
        "cpm_prompt_s": prompt_s,
        "cpm_seconds": seconds,
        "calls_per_min": args.calls / seconds * 60,
        "cpm_delivered": done["states"].get("delivered", 0),
        "cpm_all_delivered": int(done["states"].get("delivered", 0) == args.calls),
        "cpm_sipp_exit": sipp_exit,
        "cpm_sipp_max_concurrent": most,
        "cpm_slow_answers": done["slow_answers"],
        "cpm_max_answer_ms": done["max_answer_ms"],
        "cpm_late_ticks": media.get("all_late_ticks", -1),
        "cpm_max_late_ms": media.get("all_max_late_ms", float("nan")),
    }
    if not out["cpm_all_delivered"] or sipp_exit:
        out["cpm_why"] = f"states={done['states']} outcomes={done['kinds']} sipp_errors={errors[-300:]!r}"
    return out


def _print(prefix: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"{prefix}{key}={shown}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # the child process: its steady target
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 200, 300, 400, 600, 800, 1000])
    parser.add_argument("--rate", type=float, default=50, help="INVITEs a second during the steps")
    parser.add_argument("--steady", type=float, default=15, help="seconds all N calls are up together")
    parser.add_argument("--sipps", type=int, default=1, help="SIPp instances (one trunk each) in the steps")
    parser.add_argument("--all-steps", action="store_true", help="go on after a step that is not clean")
    parser.add_argument("--calls", type=int, default=1000, help="calls for calls_per_min")
    parser.add_argument("--cpm-rate", type=float, default=50)
    parser.add_argument("--cpm-concurrency", type=int, default=300)
    parser.add_argument("--no-steps", action="store_true")
    parser.add_argument("--no-cpm", action="store_true")
    parser.add_argument("--py-spy", metavar="DIR", help="py-spy record the worker in each steady period")
    parser.add_argument("--quick", action="store_true", help="steps 20 and 50 (5 s steady), 50 calls")
    args = parser.parse_args()
    if args.worker is not None:
        asyncio.run(_worker(args.worker))
        return 0
    if Path.cwd().resolve() == Path(__file__).resolve().parent:
        raise SystemExit("run it from the repository root: .venv/bin/python bench/voice.py")
    if args.quick:
        args.steps, args.steady, args.calls = [20, 50], 5.0, 50

    sys.path.insert(0, str(ROOT))  # tests.peers
    from tests.peers.phones import missing_programs

    missing = missing_programs("sipp", "espeak-ng", "sox")
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)} (`make peers`)")
    print(f"load_before={os.getloadavg()[0]:.2f}", flush=True)
    with scratch_database() as (url, env), tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        from tocsin.organisations.models import Organisation

        org = Organisation.objects.create(name="Bench", kind="municipality", status="active")
        workdir = Path(tmp)
        best, clean_so_far = 0, True
        if not args.no_steps:
            print(f"rate_per_s={args.rate:g}", flush=True)
            print(f"sipp_instances={args.sipps}", flush=True)
            for n in sorted(args.steps):
                step = run_step(url, env, org, workdir, args, n)
                _print(f"step_{n}_", step)
                clean_so_far = clean_so_far and bool(step["clean"])
                if clean_so_far:
                    best = n  # the largest N with every step up to it clean
                elif not args.all_steps:
                    break
            print(f"concurrent_calls_max={best}", flush=True)
        if not args.no_cpm:
            print(f"cpm_rate_per_s={args.cpm_rate:g}", flush=True)
            print(f"cpm_concurrency={args.cpm_concurrency}", flush=True)
            print(f"cpm_calls={args.calls}", flush=True)
            _print("", run_calls_per_min(url, env, org, workdir, args))
    print(f"load_after={os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
