"""Jobs of alerts, on the `broadcast` queue: area broadcasts and partner pushes (the network calls of
``alerts.broadcasts``, outside any transaction)."""

from __future__ import annotations

from procrastinate import JobContext
from procrastinate.contrib.django import app

from tocsin.alerts import broadcasts


@app.task(queue="broadcast", name="tocsin.alerts.broadcast_send")
def broadcast_send(broadcast_id: int) -> None:
    broadcasts.broadcast_send(broadcast_id)


@app.task(queue="broadcast", name="tocsin.alerts.broadcast_poll")
def broadcast_poll(broadcast_id: int) -> None:
    broadcasts.broadcast_poll(broadcast_id)


@app.task(queue="broadcast", name="tocsin.alerts.broadcast_withdraw")
def broadcast_withdraw(broadcast_id: int, cancel_id: int) -> None:
    broadcasts.broadcast_withdraw(broadcast_id, cancel_id)


@app.task(queue="broadcast", name="tocsin.alerts.partner_push")
def partner_push(push_id: int) -> None:
    broadcasts.partner_push(push_id)


@app.periodic(cron="* * * * *")
@app.task(queue="broadcast", queueing_lock="retry_stalled_jobs", pass_context=True,
          name="tocsin.alerts.retry_stalled_jobs")  # fmt: skip
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Jobs of a worker that died (no heartbeat for 30 s) go back to the queue: their locks — the area
    broadcasts' ordering — would otherwise block every later job of the same alert and gateway."""
    assert context.app is not None
    for job in await context.app.job_manager.get_stalled_jobs():
        await context.app.job_manager.retry_job(job)
