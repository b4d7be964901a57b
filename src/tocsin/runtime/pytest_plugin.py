"""Loaded with ``-p`` before pytest-django reads the settings: a real PostgreSQL for the tests.

Unless DATABASE_URL is set, the embedded server under ./var/pg is started for
the session (and stopped at the end if this session started it).
"""

from __future__ import annotations

import os

import pytest

_started = False
if not os.environ.get("DATABASE_URL"):
    from tocsin.runtime import pg

    _started = pg.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _started and not os.environ.get("TOCSIN_KEEP_DB"):
        from tocsin.runtime import pg

        pg.stop()
