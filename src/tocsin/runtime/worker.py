"""`tocsin worker`: procrastinate's job worker and the delivery dispatcher in one process.

SIGINT/SIGTERM: the dispatcher stops claiming and finishes the batch in hand,
procrastinate lets running jobs end, then the process exits (a clean drain).
Claims of a worker killed harder come back when their leases run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any
from urllib.parse import quote

logger = logging.getLogger("tocsin.worker")


def django_database_url() -> str:
    """The default database of the Django settings, as a URL for our own async connections."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{db.get('HOST') or ''}{port}/{quote(str(db['NAME']), safe='')}"


async def _run(queues: list[str] | None, concurrency: int, dispatch: bool, lease_s: float) -> None:
    from procrastinate.contrib.django import app

    from tocsin.delivery.dispatcher import Dispatcher

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    dispatcher = Dispatcher(django_database_url(), lease_s=lease_s) if dispatch else None
    options: dict[str, Any] = {"concurrency": concurrency, "install_signal_handlers": False}
    if queues:
        options["queues"] = queues  # none given: every queue
    worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
    with app.replace_connector(worker_connector) as worker_app:
        async with worker_app.open_async():
            tasks = [asyncio.create_task(worker_app.run_worker_async(**options))]
            if dispatcher is not None:
                tasks.append(asyncio.create_task(dispatcher.run()))
            logger.info("worker started (queues: %s; dispatcher: %s)", ", ".join(queues or ["all"]), dispatch)
            done_early = asyncio.create_task(asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION))
            await asyncio.wait([asyncio.create_task(stop.wait()), done_early], return_when=asyncio.FIRST_COMPLETED)
            if dispatcher is not None:
                dispatcher.stop.set()
            tasks[0].cancel()  # procrastinate stops taking jobs and lets running ones finish
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def run_worker(*, queues: list[str] | None, concurrency: int, dispatch: bool = True, lease_s: float = 60.0) -> int:
    asyncio.run(_run(queues, concurrency, dispatch, lease_s))
    logger.info("worker stopped")
    return 0
