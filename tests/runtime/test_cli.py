"""The `tocsin` command: every sub-command has --help; `db url` points at a real server."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tocsin.cli import build_parser

COMMANDS = [
    "demo",
    "web",
    "worker",
    "gateway",
    "migrate",
    "db",
    "createadmin",
    "audit",
    "demo-code",
    "manage",
    "geo",
    "import",
    "alarms",
    "receiver",
]


def _tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tocsin.cli", *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_command():
    out = _tocsin("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name):
    out = _tocsin(name, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: tocsin" in out.stdout


def test_unknown_command_is_an_error_not_a_traceback():
    out = _tocsin("launch-everything")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_db_url_reaches_a_real_postgresql(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    out = _tocsin("db", "url")
    if out.returncode != 0:
        pytest.skip("DATABASE_URL points at an external server in this run")
    with psycopg.connect(out.stdout.strip(), connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 150000


def test_createadmin_requires_email_and_name():
    args = build_parser().parse_args(["createadmin", "--email", "a@b.be", "--name", "A"])
    assert args.crisis_centre == "Nationaal Crisiscentrum"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["createadmin"])
