"""Real phones on loopback for the voice tests and the voice benchmark: Debian's baresip and SIPp.

Neither is Tocsin's code, which is the point: our SIP/RTP caller is checked against independent
implementations (decision record 0005 §2).

- ``Baresip`` (package ``baresip-core`` 1.0.0) is the phone a person holds. It answers at once,
  records what it hears (``…-dec.wav``), plays a WAV as its own voice (silence, or an answering
  machine's greeting from ``make_greeting``) and presses keys as RFC 4733 events when told to
  over its ``ctrl_tcp`` socket.
- ``Sipp`` (package ``sip-tester`` 3.6.1) runs the scenarios in ``tests/peers/sipp/``: DTMF as
  SIP INFO or RFC 4733, busy, no answer, digest authentication and many calls at once.

``make test`` installs both (the ``peers`` target). Everything listens on 127.0.0.1 on ports
chosen free at start, so several phones can run side by side. No Django here: ``bench/`` uses
this module too.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

HOST = "127.0.0.1"
SCENARIOS = Path(__file__).with_name("sipp")
SIPP_SHARE = Path("/usr/share/sip-tester")  # pcaps shipped by Debian's sip-tester
BARESIP_MODULES = Path("/usr/lib/baresip/modules")
RATE = 8000  # G.711: every WAV here is 8 kHz, mono, 16-bit

# -key values every scenario may use; a test overrides them with Sipp(variables=…).
SIPP_DEFAULTS = {"dtmf_after": "2000", "digit": "1", "auth_user": "tocsin", "auth_password": "secret"}
_DTMF_PCAP_NAMES = {"*": "star", "#": "pound"}


# --- what is installed ---------------------------------------------------------------------------


def missing_programs(*names: str) -> list[str]:
    """The programs among ``names`` (default: all the voice peers need) that are not on PATH."""
    return [name for name in names or ("baresip", "sipp", "espeak-ng", "sox") if shutil.which(name) is None]


def require_programs(*names: str) -> None:
    """Skip the calling test when a phone is not installed: ``make test`` installs them with apt-get, a bare
    checkout may not have them."""
    missing = missing_programs(*names)
    if missing:
        import pytest  # only tests call this; the benchmark fails loudly instead

        pytest.skip(
            f"{', '.join(missing)} not installed: `make peers` installs Debian's baresip-core, sip-tester, "
            "espeak-ng and sox with apt-get"
        )


def can_play_pcap() -> bool:
    """Whether SIPp's ``play_pcap_audio`` (scenario ``answer_rfc4733``) can work here.

    SIPp replays a pcap through a raw socket, which needs root or CAP_NET_RAW; without it the scenario
    fails at the first call ("Can't create raw IPv4 socket") and SIPp exits 255. Trying the same socket
    from Python answers the question in advance, so a test can skip with a reason instead."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except OSError:
        return False
    return True


# --- ports ---------------------------------------------------------------------------------------


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, udp: bool = True, tcp: bool = False, span: int = 1, even: bool = False) -> int:
    """A port on 127.0.0.1 where ``span`` consecutive ports are free for the kinds asked for.

    The kernel hands out the first one (bind to port 0), the others are checked. Between this check and
    the phone's own bind another process could take a port; the phones start again on new ports when
    that happens."""
    kinds = [k for k, wanted in ((socket.SOCK_DGRAM, udp), (socket.SOCK_STREAM, tcp)) if wanted]
    for _ in range(200):
        with socket.socket(socket.AF_INET, kinds[0]) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if (even and port % 2) or port + span > 65535:
            continue
        if all(_bindable(p, k) for p in range(port, port + span) for k in kinds):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def _udp_bound(port: int) -> bool:
    """Whether some process has bound UDP 127.0.0.1:port (or 0.0.0.0:port), read from /proc/net/udp.

    Probing by binding ourselves could steal the port from a phone that is about to bind it."""
    wanted = {f"{host}:{port:04X}" for host in ("0100007F", "7F000001", "00000000")}  # either byte order
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] in wanted:
                return True
    return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"({path} was not written)"


# --- audio files ---------------------------------------------------------------------------------


def make_silence(path: Path, seconds: float) -> Path:
    """An 8 kHz mono 16-bit WAV of digital silence, written without sox."""
    write_wav(path, bytes(2 * round(seconds * RATE)))
    return path


def write_wav(path: Path, pcm: bytes) -> Path:
    """Writes 8 kHz mono signed 16-bit little-endian samples as a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return path


def read_wav(path: Path) -> bytes:
    """The samples of an 8 kHz mono 16-bit WAV; anything else is refused because baresip would resample
    or misread it."""
    with wave.open(str(path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(
                f"{path}: {w.getframerate()} Hz, {w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit; "
                "the phones want 8000 Hz mono 16-bit (make_greeting writes that)"
            )
        return w.readframes(w.getnframes())


def wav_seconds(path: Path) -> float:
    """Duration of a 16-bit mono WAV, also while its writer still has it open.

    libsndfile fills in the RIFF and data sizes only when baresip closes the file (at the end of the
    call); until then they say 0, so the length comes from the file size after the data chunk header."""
    data = path.read_bytes()
    rate, offset = RATE, 12
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        if chunk == b"fmt ":
            rate = struct.unpack("<I", data[offset + 12 : offset + 16])[0]
        if chunk == b"data":
            available = len(data) - offset - 8
            size = available if size in (0, 0xFFFFFFFF) or size > available else size
            return size / 2 / rate
        offset += 8 + size + (size & 1)
    return 0.0


def make_greeting(
    path: Path,
    text: str = "Hallo, dit is de voicemail van Jan Peeters. Ik ben er even niet. Spreek een bericht in na de toon.",
    language: str = "nl",
    *,
    beep_seconds: float = 0.5,
    silence_seconds: float = 2.0,
) -> Path:
    """An answering machine's greeting for baresip to play: speech, a 1 kHz beep, then silence.

    espeak-ng speaks ``text`` (voice ``language``); sox converts it to 8 kHz mono 16-bit without dither
    (``-D``, as the product renders its prompts) and appends the beep and the silence. A long voiced
    stretch right after answering is what tells a machine from a person saying "Hallo?" (decision
    record 0005 §2: 3.9 s against 0.3 s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="greeting-") as tmp:
        speech, beep, silence = Path(tmp, "speech.wav"), Path(tmp, "beep.wav"), Path(tmp, "silence.wav")
        spoken = subprocess.run(
            ["espeak-ng", "-v", language, "--stdout", text], check=True, capture_output=True, timeout=60
        ).stdout
        fmt = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
        subprocess.run(["sox", "-D", "-t", "wav", "-", *fmt, str(speech)], input=spoken, check=True, timeout=60)
        subprocess.run(["sox", "-D", "-n", *fmt, str(beep), "synth", str(beep_seconds), "sine", "1000", "vol", "0.5"],
                       check=True, timeout=60)  # fmt: skip
        make_silence(silence, silence_seconds)
        subprocess.run(["sox", "-D", str(speech), str(beep), str(silence), *fmt, str(path)], check=True, timeout=60)
    return path


# --- baresip -------------------------------------------------------------------------------------


class _Control:
    """baresip's ``ctrl_tcp`` socket: JSON commands and events in netstrings (``<len>:<json>,``).

    ctrl_tcp serves one connection at a time and drops the older one when a new one arrives, and it sends
    the phone's events (CALL_ESTABLISHED, CALL_CLOSED, …) to that connection only. So one connection is
    kept for the phone's whole life; a reader thread files responses by token and collects events."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=2)
        self.sock.settimeout(None)
        self.events: list[dict[str, Any]] = []
        self.responses: dict[str, dict[str, Any]] = {}
        self.closed = False
        self.changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name=f"baresip-ctrl-{port}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        try:
            while chunk := self.sock.recv(65536):
                buffer += chunk
                while b":" in buffer:
                    length, _, rest = buffer.partition(b":")
                    size = int(length)
                    if len(rest) < size + 1:
                        break
                    self._file(json.loads(rest[:size]))
                    buffer = rest[size + 1 :]  # drop the trailing ","
        except (OSError, ValueError):
            pass
        finally:
            with self.changed:
                self.closed = True
                self.changed.notify_all()

    def _file(self, message: dict[str, Any]) -> None:
        with self.changed:
            if message.get("event"):
                message["received_at"] = time.monotonic()
                self.events.append(message)
            elif message.get("response"):
                self.responses[str(message.get("token"))] = message
            self.changed.notify_all()

    def send(self, command: str, params: str = "") -> str:
        token = secrets.token_hex(6)
        request: dict[str, str] = {"command": command, "token": token}
        if params:  # ctrl_tcp adds a space before params when the key is there at all
            request["params"] = params
        body = json.dumps(request).encode()
        with self._send_lock:
            self.sock.sendall(b"%d:%s," % (len(body), body))
        return token

    def response(self, token: str, timeout: float) -> dict[str, Any]:
        with self.changed:
            if not self.changed.wait_for(lambda: token in self.responses or self.closed, timeout):
                raise TimeoutError(f"baresip did not answer command token {token} within {timeout} s")
            if token not in self.responses:
                raise RuntimeError("baresip closed its ctrl_tcp connection")
            return self.responses.pop(token)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(2)


class Baresip:
    """Debian's baresip as an auto-answering phone on 127.0.0.1.

    ``with Baresip(tmp_path) as phone:`` dial ``phone.uri`` at ``phone.address``. The phone answers at
    once with PCMU or PCMA, says ``greeting`` (or nothing), and records what it hears; ``phone.press()``
    sends DTMF 1 as RFC 4733 events during the call; ``phone.heard_seconds()`` are the recordings'
    lengths.

    Quirks of baresip 1.0.0 this class works around or passes on:
    - baresip hangs up when its audio file runs out (aufile reports "end of file" as an audio error).
      The file it plays is the greeting padded with silence to ``hangup_after`` seconds, so that is
      also when the phone hangs up by itself (checked once a second, so up to 1 s later).
    - Paths of the audio file and of the recordings live in 128-byte buffers: both go to a short
      directory under /tmp while the phone runs; ``stop()`` moves the recordings to ``workdir/rec``.
    - Recordings are named by the second the call started (``dump-<date-time>-dec.wav``): two calls
      answered in the same second write the same file. Place calls a second apart when the
      recordings matter.
    - ``press`` goes to baresip's current call (the newest one).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        greeting: Path | None = None,
        user: str = "phone",
        max_calls: int = 4,
        hangup_after: float = 120.0,
        also: Sequence[str] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.greeting = greeting
        self.user = user
        self.also = list(also)  # more numbers this phone answers (baresip matches the dialled user part)
        self.max_calls = max_calls
        self.hangup_after = hangup_after
        self.config_dir = self.workdir / "baresip"
        self.log_path = self.workdir / "baresip.log"
        self.rec_dir = self.workdir / "rec"
        self.sip_port = 0
        self.ctrl_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._control: _Control | None = None
        self._past_events: list[dict[str, Any]] = []  # kept from the control connection after stop()
        self._short_dir: Path | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{HOST}:{self.sip_port}"

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.sip_port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        assert self._short_dir is not None
        source, recordings = self._short_dir / "source.wav", self._short_dir / "rec"
        recordings.mkdir()
        voice = read_wav(self.greeting) if self.greeting else b""
        write_wav(source, voice + bytes(max(0, 2 * round(self.hangup_after * RATE) - len(voice))))
        rtp_low = 20000 + 2 * secrets.randbelow(4900)  # baresip retries other ports of the range when one is taken
        settings = {
            "poll_method": "epoll",
            "sip_listen": f"{HOST}:{self.sip_port}",
            "call_local_timeout": "120",
            "call_max_calls": str(self.max_calls),
            "audio_player": "aubridge,nowhere",  # what the phone hears goes to the recording only
            "audio_source": f"aufile,{source}",
            "audio_alert": "aubridge,alert",
            "ausrc_srate": str(RATE),
            "auplay_srate": str(RATE),
            "rtp_ports": f"{rtp_low}-{rtp_low + 199}",
            "jitter_buffer_delay": "1-2",
            "module_path": str(BARESIP_MODULES),
            "ctrl_tcp_listen": f"{HOST}:{self.ctrl_port}",
            "snd_path": str(recordings),
        }
        modules = [("module", "g711.so"), ("module", "aufile.so"), ("module", "aubridge.so"),
                   ("module", "sndfile.so"),  # an audio filter: dumps both directions of each call as WAV
                   ("module_tmp", "account.so"), ("module_app", "menu.so"), ("module_app", "ctrl_tcp.so")]  # fmt: skip
        lines = [f"{key}\t\t{value}" for key, value in settings.items()] + [f"{k}\t\t{v}" for k, v in modules]
        (self.config_dir / "config").write_text("\n".join(lines) + "\n")
        (self.config_dir / "accounts").write_text(
            "".join(
                f"<sip:{user}@{HOST}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
                for user in [self.user, *self.also]
            )
        )
        (self.config_dir / "contacts").write_text("")

    def start(self, timeout: float = 10.0) -> Self:
        """Writes the config and starts baresip; returns once its ctrl_tcp socket answers (the SIP socket
        is bound before modules load, so the phone is reachable by then)."""
        if shutil.which("baresip") is None:
            raise RuntimeError("baresip is not installed (Debian package baresip-core; `make peers`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a port taken between free_port() and baresip's bind: again on new ports
            self.sip_port, self.ctrl_port = free_port(udp=True, tcp=True), free_port(udp=False, tcp=True)
            self._short_dir = Path(tempfile.mkdtemp(prefix="baresip-", dir="/tmp"))
            self._write_config()
            with open(self.log_path, "ab") as log:
                command = ["baresip", "-4", "-f", str(self.config_dir)]
                if shutil.which("stdbuf"):
                    command = ["stdbuf", "-oL", *command]  # the log is read while baresip runs
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    self._control = _Control(self.ctrl_port)
                except OSError:
                    time.sleep(0.05)
                    continue
                return self
            self._kill()
            shutil.rmtree(self._short_dir, ignore_errors=True)
            self._short_dir = None
            if attempt < 2 and "Address already in use" in self.log():
                continue
            break
        raise RuntimeError(f"baresip did not start within {timeout} s; its log ends with:\n{_tail(self.log_path)}")

    def command(self, command: str, params: str = "", *, timeout: float = 5.0) -> dict[str, Any]:
        """Runs a baresip command (the menu's long names: ``listcalls``, ``hangup``, ``sndcode``, …) and
        returns ctrl_tcp's response: ``{"response": true, "ok": …, "data": "…", "token": …}``."""
        if self._control is None:
            raise RuntimeError("baresip is not running")
        response = self._control.response(self._control.send(command, params), timeout)
        if not response.get("ok"):
            raise RuntimeError(f"baresip refused {command!r} {params!r}: {response.get('data')!r}")
        return response

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """baresip's events so far (``type`` CALL_INCOMING, CALL_ESTABLISHED, CALL_DTMF_START, CALL_CLOSED, …;
        ``received_at`` is our time.monotonic() when it arrived)."""
        if self._control is None:
            return [e for e in self._past_events if kind is None or e.get("type") == kind]
        with self._control.changed:
            return [e for e in self._control.events if kind is None or e.get("type") == kind]

    def wait_for_event(self, kind: str, *, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """Waits until ``count`` events of ``kind`` have arrived since start; returns the ``count``-th."""
        control = self._control
        if control is None:
            raise RuntimeError("baresip is not running")
        with control.changed:
            control.changed.wait_for(lambda: len(self.events(kind)) >= count or control.closed, timeout)
            found = self.events(kind)
        if len(found) < count:
            raise TimeoutError(f"baresip saw {len(found)} {kind} event(s), not {count}, within {timeout} s")
        return found[count - 1]

    def wait_for_call(self, timeout: float = 10.0, *, count: int = 1) -> dict[str, Any]:
        """Waits until the ``count``-th call since start is established (answered and ACKed)."""
        return self.wait_for_event("CALL_ESTABLISHED", count=count, timeout=timeout)

    def wait_for_hangup(self, timeout: float = 30.0, *, count: int = 1) -> dict[str, Any]:
        """Waits until the ``count``-th call since start has ended (either side hung up)."""
        return self.wait_for_event("CALL_CLOSED", count=count, timeout=timeout)

    def calls_up(self) -> int:
        """Calls established and not yet closed, from the events."""
        return len(self.events("CALL_ESTABLISHED")) - len(
            {e.get("id") for e in self.events("CALL_CLOSED")} & {e.get("id") for e in self.events("CALL_ESTABLISHED")}
        )

    def press(self, digit: str = "1", *, timeout: float = 10.0) -> None:
        """Presses ``digit`` in the current call: RFC 4733 events on the call's RTP (baresip 1.0.0 has no
        SIP INFO). Waits up to ``timeout`` for a call to be up, because ``sndcode`` without a call is
        silently a no-op."""
        deadline = time.monotonic() + timeout
        while self.calls_up() < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no call was up at {self.uri} within {timeout} s to press {digit!r}")
            time.sleep(0.02)
        if self.also:  # several accounts: sndcode goes to the current one, so make the call's account current
            established = self.events("CALL_ESTABLISHED")
            if established and established[-1].get("accountaor"):
                self.command("uafind", str(established[-1]["accountaor"]))
        self.command("sndcode", digit)

    def hangup(self) -> None:
        """Hangs up the current call (BYE from the phone)."""
        self.command("hangup")

    def recordings(self) -> list[Path]:
        """The ``…-dec.wav`` files, one per call: what the phone heard, oldest first. While the phone runs
        they are in its short directory, after ``stop()`` in ``workdir/rec``."""
        live = self._short_dir / "rec" if self._short_dir is not None else self.rec_dir
        return sorted(live.glob("*-dec.wav"))

    def heard_seconds(self) -> list[float]:
        """How long each recording is, in seconds (8 kHz samples / 8000)."""
        return [round(wav_seconds(path), 3) for path in self.recordings()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """Quits baresip (``quit`` over ctrl_tcp; killed when it lingers) and returns its exit code (0 after
        a clean quit). Also brings the recordings to ``workdir/rec``."""
        if self.process is not None and self.process.poll() is None and self._control is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self._control.send("quit")  # the connection may close before any response
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self._kill()
        self._collect_recordings()
        return self.returncode

    def _kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(3)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.returncode = self.process.returncode
        if self._control is not None:
            self._control.close()
            self._past_events = self._control.events
            self._control = None

    def _collect_recordings(self) -> None:
        if self._short_dir is None:
            return
        self.rec_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted((self._short_dir / "rec").glob("*.wav")):
            shutil.move(str(path), self.rec_dir / path.name)
        shutil.rmtree(self._short_dir, ignore_errors=True)
        self._short_dir = None


class Presser(threading.Thread):
    """Presses a key on a Baresip phone from a thread, ``seconds`` after its next call is established.

    Why a thread: the code under test usually places the call in the foreground (a blocking dispatch or
    its own event loop), so the person at the phone has to act on their own. Counting from the moment
    baresip reports CALL_ESTABLISHED, not from now, keeps the timing independent of how long dialling
    took. ``result()`` joins and re-raises what went wrong (no call came, baresip refused)."""

    def __init__(self, phone: Baresip, seconds: float, digit: str = "1", *, timeout: float = 30.0) -> None:
        super().__init__(name=f"press-{digit}-{phone.uri}", daemon=True)
        self.phone, self.seconds, self.digit, self.timeout = phone, seconds, digit, timeout
        self.calls_before = len(phone.events("CALL_ESTABLISHED"))
        self.pressed_at: float | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            established = self.phone.wait_for_call(self.timeout, count=self.calls_before + 1)
            time.sleep(max(0.0, established["received_at"] + self.seconds - time.monotonic()))
            self.phone.press(self.digit, timeout=1.0)
            self.pressed_at = time.monotonic()
        except Exception as error:  # noqa: BLE001 — handed to result(): a thread has nobody else to tell
            self.error = error

    def result(self, timeout: float | None = None) -> float:
        """Waits for the thread; the time.monotonic() of the press, or the error that prevented it."""
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError("the key was not pressed yet")
        if self.error is not None:
            raise self.error
        assert self.pressed_at is not None
        return self.pressed_at


def press_after(phone: Baresip, seconds: float, digit: str = "1", *, timeout: float = 30.0) -> Presser:
    """Starts a ``Presser``: ``digit`` is pressed ``seconds`` after the phone's next call is established
    (the next one counted from this call, so start it before dialling)."""
    presser = Presser(phone, seconds, digit, timeout=timeout)
    presser.start()
    return presser


# --- SIPp ----------------------------------------------------------------------------------------


def scenario_path(scenario: str | Path) -> Path:
    """A scenario of tests/peers/sipp by name (``"busy"`` or ``"busy.xml"``), or any scenario file given as a
    ``Path`` or a string with a ``/``."""
    if isinstance(scenario, Path) or "/" in scenario:
        return Path(scenario).resolve()
    path = SCENARIOS / (scenario if scenario.endswith(".xml") else f"{scenario}.xml")
    if not path.exists():
        known = sorted(p.stem for p in SCENARIOS.glob("*.xml"))
        raise FileNotFoundError(f"no SIPp scenario {scenario!r} in {SCENARIOS} (there are: {', '.join(known)})")
    return path


def alaw_from_pcap(pcap: Path) -> bytes:
    """The concatenated RTP payloads of a pcap of one G.711 stream (Ethernet/IPv4/UDP/RTP), e.g. the
    A-law speech in SIPp's g711a.pcap, as raw audio for SIPp's ``rtp_stream``."""
    data = pcap.read_bytes()
    offset, out = 24, bytearray()  # after the pcap file header
    while offset + 16 <= len(data):
        captured = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        ip = frame[14:]
        udp = ip[(ip[0] & 0x0F) * 4 :]
        rtp = udp[8:]
        out += rtp[12 + 4 * (rtp[0] & 0x0F) :]
    return bytes(out)


class Sipp:
    """SIPp as the called side (``-sf`` only, no remote host), on free 127.0.0.1 ports.

    ``with Sipp("busy", tmp_path, calls=1) as sipp:`` dial ``sipp.uri`` at ``sipp.address``, then
    ``sipp.wait(10) == 0``. With ``calls`` SIPp exits by itself after that many calls; without it, it runs
    until ``stop()``. Scenarios and their keywords: tests/peers/sipp/*.xml; ``variables`` become ``-key``
    values (on top of ``SIPP_DEFAULTS``).

    Exit codes (SIPp's): 0 every call succeeded, 1 at least one failed (also: auth.xml with a wrong
    password), 97 stopped by a scenario (stop_now), 99 ended before any call, 255 fatal (a scenario error,
    no raw socket for play_pcap_audio), 254 a port was taken. SIGTERM (``stop()``) counts as a normal end.

    What happened is in files of ``workdir``: ``errors()`` (-trace_err), ``stats()`` (-trace_stat, one row a
    second), ``spans()`` (the scenarios' own log of when each call started and ended), ``messages()``
    (-trace_msg, with ``trace_msg=True``), ``output()`` (SIPp's screen)."""

    def __init__(
        self,
        scenario: str | Path,
        workdir: Path,
        *,
        calls: int | None = None,
        variables: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        trace_msg: bool = False,
    ) -> None:
        self.scenario = scenario_path(scenario)
        self.workdir = Path(workdir)
        self.calls = calls
        self.variables = {**SIPP_DEFAULTS, **(variables or {})}
        self.variables.setdefault("dtmf_pcap", str(SIPP_SHARE / f"dtmf_2833_{self._pcap_name()}.pcap"))
        self.extra_args = list(extra_args)
        self.trace_msg = trace_msg
        self.port = self.media_port = self.control_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        stem = self.scenario.stem
        self.error_path = self.workdir / f"{stem}.errors.log"
        self.stat_path = self.workdir / f"{stem}.stat.csv"
        self.log_path = self.workdir / f"{stem}.calls.log"
        self.message_path = self.workdir / f"{stem}.messages.log"
        self.output_path = self.workdir / f"{stem}.out"

    def _pcap_name(self) -> str:
        digit = self.variables["digit"]
        return _DTMF_PCAP_NAMES.get(digit, digit)

    @property
    def uri(self) -> str:
        return f"sip:service@{HOST}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self) -> list[str]:
        keys = [arg for name, value in self.variables.items() for arg in ("-key", name, str(value))]
        traces = ["-trace_err", "-error_file", str(self.error_path),
                  "-trace_stat", "-stf", str(self.stat_path), "-fd", "1",
                  "-trace_logs", "-log_file", str(self.log_path)]  # fmt: skip
        if self.trace_msg:
            traces += ["-trace_msg", "-message_file", str(self.message_path)]
        return [
            "sipp", *keys,  # keywords first: SIPp substitutes them while it reads the scenario
            "-sf", str(self.scenario),
            "-i", HOST, "-p", str(self.port), "-bind_local",
            "-mi", HOST, "-mp", str(self.media_port),  # RTP on mp, video on mp+2 (RTCP +1, +3 kept free)
            "-cp", str(self.control_port),  # else 8888 and up, shared with any other SIPp
            "-nostdin",
            *(["-m", str(self.calls)] if self.calls is not None else []),
            *traces,
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> Self:
        """Starts SIPp and returns once its SIP socket is bound (seen in /proc/net/udp)."""
        if shutil.which("sipp") is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester; `make peers`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if "load.alaw" in self.scenario.read_text():
            (self.workdir / "load.alaw").write_bytes(alaw_from_pcap(SIPP_SHARE / "g711a.pcap"))
        for attempt in range(3):
            self.port = free_port(udp=True)
            self.media_port = free_port(udp=True, span=4, even=True)
            self.control_port = free_port(udp=True)
            with open(self.output_path, "wb") as out:
                self.process = subprocess.Popen(
                    self.command(), cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if _udp_bound(self.port) and _udp_bound(self.control_port):
                    return self
                time.sleep(0.02)
            if self.process.poll() == 254 and attempt < 2:  # a port was taken meanwhile
                continue
            break
        self.stop()
        raise RuntimeError(
            f"SIPp did not start (exit {self.returncode}): {self.errors()[-2000:]}\n{_tail(self.output_path)}"
        )

    def wait(self, timeout: float | None = None) -> int:
        """Waits for SIPp to end by itself (after ``calls`` calls) and returns its exit code."""
        assert self.process is not None, "start() first"
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"SIPp ({self.scenario.name}) still running after {timeout} s; errors: {self.errors()[-2000:]}"
            ) from None
        return self.returncode

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ends SIPp (SIGTERM, then SIGKILL) when it still runs; its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        return self.returncode

    def errors(self) -> str:
        """SIPp's error log (-trace_err): unexpected messages, aborted calls, scenario errors."""
        return self.error_path.read_text(errors="replace") if self.error_path.exists() else ""

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def messages(self) -> str:
        """Every SIP message sent and received (only with ``trace_msg=True``)."""
        return self.message_path.read_text(errors="replace") if self.message_path.exists() else ""

    def stats(self) -> list[dict[str, str]]:
        """The rows of SIPp's statistics CSV (-trace_stat): one a second and one at the end, with cumulative
        ``SuccessfulCall(C)``, ``FailedCall(C)`` and the sampled ``CurrentCall``."""
        if not self.stat_path.exists():
            return []
        lines = [line.rstrip(";") for line in self.stat_path.read_text(errors="replace").splitlines() if line]
        if not lines:
            return []
        header = lines[0].split(";")
        return [dict(zip(header, line.split(";"), strict=False)) for line in lines[1:]]

    def _last(self, column: str) -> int:
        rows = self.stats()
        return int(rows[-1].get(column, 0) or 0) if rows else 0

    def successful(self) -> int:
        """Calls that ran through the scenario (cumulative, from the last statistics row). Exact once SIPp has
        ended by itself (``calls`` and ``wait()``); after ``stop()`` it is the last once-a-second row, which
        misses calls still in their closing ``timewait``."""
        return self._last("SuccessfulCall(C)")

    def failed(self) -> int:
        return self._last("FailedCall(C)")

    def spans(self) -> list[tuple[float, float | None]]:
        """(start, end) in seconds since SIPp started, one per call, from the scenarios' ``<log>`` lines
        "call N start|end <ms>": start when the INVITE arrived, end at the BYE (or at the ACK of a final
        error). ``None`` for a call that has not ended."""
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 4 and fields[0] == "call" and fields[2] in ("start", "end"):
                (starts if fields[2] == "start" else ends)[fields[1]] = int(fields[3]) / 1000
        return [(start, ends.get(call)) for call, start in starts.items()]

    def max_concurrent(self) -> int:
        """The most calls SIPp held at one moment, from ``spans()``.

        Why not the CSV's ``CurrentCall``: it is sampled once a second, so short peaks fall between samples,
        and it counts SIPp's lingering ``timewait`` after each call. The spans are exact to the millisecond.
        A call that has not ended counts as going on (a call that never ends does hold a trunk line); so does a
        call SIPp aborted (an unexpected message): no scenario step runs after an abort to log its end, but
        ``failed()`` and the exit code show those. When
        one call ends in the same millisecond as another starts, they are not counted as overlapping."""
        events = []
        for start, end in self.spans():
            events.append((start, 1))
            if end is not None:
                events.append((max(end, start + 0.0005), -1))  # a call within one millisecond still counts
        current = peak = 0
        for _, step in sorted(events):  # at equal times the -1 sorts first
            current += step
            peak = max(peak, current)
        return peak

    def sampled_max_current(self) -> int:
        """The largest ``CurrentCall`` in the statistics CSV (sampled each second; see ``max_concurrent``)."""
        return max((int(row.get("CurrentCall", 0) or 0) for row in self.stats()), default=0)
