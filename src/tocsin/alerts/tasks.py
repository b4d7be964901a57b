"""Jobs of alerts, on the `broadcast` queue: area broadcasts and partner pushes (the network calls of
``alerts.broadcasts``, outside any transaction)."""

from __future__ import annotations

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
