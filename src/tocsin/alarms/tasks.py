"""Jobs of the registry of alarm systems: the daily reminders (KB-7 hand-overs, KB-8 maintenance)."""

from __future__ import annotations

from procrastinate.contrib.django import app

from tocsin.alarms import services


@app.periodic(cron="41 7 * * *")
@app.task(queue="mail", queueing_lock="alarms_reminders", name="tocsin.alarms.send_reminders")
def send_reminders(timestamp: int) -> None:
    """Once a day, each reminder once (idempotent: a reminder row per system, kind and due date)."""
    services.reminders_send()
