"""Debian's Kannel on loopback: bearerbox + smsbox, with Kannel's own fakesmsc as the SMSC.

The boxes are the real programs (packages ``kannel`` and ``kannel-extras``);
``make test`` installs them. fakesmsc prints every message it is handed
("Got message N: <from to text …>") and bearerbox reports each as delivered,
so the full sendsms → SMSC → dlr-url path runs for real.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USERNAME, PASSWORD = "tocsin", "s3cret-kannel"

_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def require_kannel() -> None:
    missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(
            f"Kannel is not installed ({', '.join(missing)} missing): `make test` installs Debian's kannel and "
            "kannel-extras with apt-get; this machine could not."
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class KannelBox:
    """Start with ``with KannelBox(mo_url=…) as kannel:``; ``kannel.sendsms_url`` is smsbox's."""

    def __init__(self, *, mo_url: str = "http://127.0.0.1:9/none", mo: str | None = None):
        require_kannel()
        self.dir = Path(tempfile.mkdtemp(prefix="tocsin-kannel-"))
        self.admin_port, self.box_port, self.fake_port, self.sendsms_port = (_free_port() for _ in range(4))
        self.mo_url = mo_url
        self.mo = mo  # a message fakesmsc sends in from a handset once everything is up
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def _config(self) -> Path:
        conf = self.dir / "kannel.conf"
        conf.write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-password = {PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.box_port}
box-allow-ip = "127.0.0.1"
log-file = "{self.dir}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.fake_port}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
log-file = "{self.dir}/smsbox.log"
log-level = 1

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "{self.mo_url}"
max-messages = 0
"""
        )
        return conf

    def _start(self, *args: str, name: str) -> None:
        with open(self.dir / f"{name}.out", "wb") as log:  # the child keeps its own copy of the descriptor
            self.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir))

    def __enter__(self) -> KannelBox:
        conf = str(self._config())
        try:
            self._start(BEARERBOX, conf, name="bearerbox")
            _wait_port(self.box_port)
            messages = [self.mo] if self.mo else ["0 0 text unused"]
            self._start(FAKESMSC, "-H", "127.0.0.1", "-r", str(self.fake_port), "-i", "3600",
                        "-m", "1" if self.mo else "0", *messages, name="fakesmsc")  # fmt: skip
            self._start(SMSBOX, conf, name="smsbox")
            _wait_port(self.sendsms_port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if not exc or exc[0] is None:  # after a failure the logs stay for reading
            shutil.rmtree(self.dir, ignore_errors=True)

    def received(self) -> list[tuple[str, str, str, str]]:
        """(sender, receiver, type, text) of every message fakesmsc got, in order."""
        out = []
        for line in (self.dir / "fakesmsc.out").read_text(errors="replace").splitlines():
            match = _GOT.search(line)
            if match:
                out.append((match[1], match[2], match[3], match[4]))
        return out

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.dir.glob("*.log"))
        )
