"""The background worker: a thin wrapper over procrastinate's worker.

procrastinate handles SIGINT/SIGTERM itself: it stops taking jobs, lets the
running ones finish, then returns (a clean drain).
"""

from __future__ import annotations

import logging

logger = logging.getLogger("tocsin.worker")


def run_worker(*, queues: list[str] | None, concurrency: int) -> int:
    from procrastinate.contrib.django import app

    worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
    with app.replace_connector(worker_connector) as worker_app:
        logger.info("worker starting (queues: %s)", ", ".join(queues) if queues else "all")
        worker_app.run_worker(queues=queues, concurrency=concurrency, install_signal_handlers=True)
    logger.info("worker stopped")
    return 0
