"""The workers' side of the outbox, in plain SQL over an async psycopg connection.

Claims use FOR UPDATE SKIP LOCKED so any number of workers on any number of
machines share the rows; a claim is a lease, and a worker that dies loses its
leases when they run out (the reaper puts the rows back, flagged as possible
duplicates because the gateway may already have had them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from tocsin.delivery import domain

_CLAIM = """
WITH picked AS (
    SELECT id FROM delivery_delivery
    WHERE gateway_id = %(gateway)s AND state = 'queued' AND next_attempt_at <= now()
    ORDER BY priority, next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE delivery_delivery d
SET state = 'claimed', claimed_by = %(worker)s, claimed_at = now(),
    lease_until = now() + make_interval(secs => %(lease)s), attempts = d.attempts + 1
FROM picked WHERE d.id = picked.id
RETURNING d.id, d.request_id, d.recipient, d.language, d.attempts, d.possible_duplicate
"""

_REAP = """
UPDATE delivery_delivery
SET state = 'queued', claimed_by = '', lease_until = NULL, possible_duplicate = true,
    error = 'lease expired: the worker stopped while this was in flight'
WHERE state = 'claimed' AND lease_until < now()
"""

# One statement per batch. Rows are locked in id order first (as the receipts statement does), so
# two transactions touching the same rows wait for each other instead of deadlocking.
_RESULTS = """
WITH locked AS (
    SELECT id FROM delivery_delivery WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR UPDATE
)
UPDATE delivery_delivery d SET
    state = CASE WHEN r.state = 'retry' THEN
                CASE WHEN d.attempts >= %(max_attempts)s AND NOT r.uncounted THEN 'failed' ELSE 'queued' END
            ELSE r.state END,
    attempts = d.attempts - CASE WHEN r.uncounted AND d.attempts > 0 THEN 1 ELSE 0 END,
    acknowledged_at = CASE WHEN r.acknowledged THEN COALESCE(d.acknowledged_at, now()) ELSE d.acknowledged_at END,
    gateway_message_id = COALESCE(NULLIF(r.message_id, ''), d.gateway_message_id),
    units = r.units,
    error = r.error,
    possible_duplicate = d.possible_duplicate OR r.maybe_sent,
    claimed_by = '', lease_until = NULL,
    -- the channel's own wait (a voice trunk's schedule), else as domain.retry_delay: 2, 4, 8 … seconds, at
    -- most 5 minutes
    next_attempt_at = CASE WHEN r.state = 'retry'
                      THEN now() + make_interval(secs => COALESCE(r.retry_in,
                                                                  LEAST(300, power(2, GREATEST(1, d.attempts)))))
                      ELSE d.next_attempt_at END,
    submitted_at = CASE WHEN r.state = 'submitted' THEN now() ELSE d.submitted_at END,
    final_at = CASE WHEN r.state IN ('failed', 'delivered', 'expired')
                    OR (r.state = 'retry' AND d.attempts >= %(max_attempts)s AND NOT r.uncounted) THEN now()
                    ELSE d.final_at END
FROM (SELECT unnest(%(ids)s::bigint[]) AS id, unnest(%(states)s::text[]) AS state,
             unnest(%(message_ids)s::text[]) AS message_id, unnest(%(units)s::int[]) AS units,
             unnest(%(errors)s::text[]) AS error, unnest(%(maybe_sent)s::bool[]) AS maybe_sent,
             unnest(%(acknowledged)s::bool[]) AS acknowledged, unnest(%(retry_in)s::float8[]) AS retry_in,
             unnest(%(uncounted)s::bool[]) AS uncounted) r
WHERE d.id = r.id AND d.id IN (SELECT id FROM locked) AND d.state = 'claimed' AND d.claimed_by = %(worker)s
"""

_APPLY_PENDING = """
WITH matched AS (
    DELETE FROM delivery_pendingreceipt p
    USING delivery_delivery d
    WHERE (%(gateway)s::bigint IS NULL OR p.gateway_id = %(gateway)s) AND d.gateway_id = p.gateway_id
      AND d.gateway_message_id = p.gateway_message_id AND d.gateway_message_id <> ''
      AND d.state = 'submitted'
    RETURNING d.id, p.outcome, p.detail
)
UPDATE delivery_delivery d SET state = m.outcome, final_at = now(),
    error = CASE WHEN m.outcome = 'delivered' THEN '' ELSE m.detail END
FROM matched m WHERE d.id = m.id
"""

RECEIPTS_SQL = """
WITH r AS (
    SELECT unnest(%(message_ids)s::text[]) AS message_id, unnest(%(outcomes)s::text[]) AS outcome,
           unnest(%(details)s::text[]) AS detail
), locked AS (
    SELECT d.id FROM delivery_delivery d
    WHERE d.gateway_id = %(gateway)s AND d.gateway_message_id = ANY(%(message_ids)s::text[])
      AND d.gateway_message_id <> ''  -- lets the planner use the partial receipt index
    ORDER BY d.id FOR UPDATE
), updated AS (
    UPDATE delivery_delivery d SET state = r.outcome, final_at = now(),
        error = CASE WHEN r.outcome = 'delivered' THEN '' ELSE r.detail END
    FROM r
    WHERE d.id IN (SELECT id FROM locked) AND d.gateway_id = %(gateway)s
      AND d.gateway_message_id = r.message_id AND d.state = 'submitted'
    RETURNING d.gateway_message_id
)
INSERT INTO delivery_pendingreceipt (gateway_id, gateway_message_id, outcome, detail, received_at)
SELECT %(gateway)s, r.message_id, r.outcome, r.detail, now() FROM r
-- NOT EXISTS, not NOT IN: an anti-join stays linear when the batch outgrows work_mem
WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.gateway_message_id = r.message_id)
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    request_id: int
    recipient: str
    language: str
    attempts: int
    possible_duplicate: bool


@dataclass(frozen=True)
class Result:
    """What a channel reports for one delivery."""

    delivery_id: int
    state: str  # submitted | retry | failed | delivered (gateways that confirm at once, e.g. SMTP)
    message_id: str = ""
    units: int = 0
    error: str = ""
    maybe_sent: bool = False  # the gateway may have it although it did not answer (connection lost)
    acknowledged: bool = False  # the recipient confirmed (pressed 1 in a voice call)
    retry_in: float | None = None  # seconds before the next try, when the channel has its own schedule
    uncounted: bool = False  # not the recipient's try (the gateway is set up wrong): attempts stay as they were


@dataclass(frozen=True)
class AttemptLog:
    """One try and how it went, kept as a delivery_attempt row (voice calls)."""

    delivery_id: int
    attempt: int
    started_at: float  # epoch seconds
    ringing_at: float | None
    answered_at: float | None
    ended_at: float
    outcome: str
    sip_status: int | None
    seconds_played: float
    detail: str


async def claim(
    conn: psycopg.AsyncConnection, *, gateway_id: int, worker: str, limit: int, lease_s: float
) -> list[Claimed]:
    async with conn.transaction():
        cur = await conn.execute(_CLAIM, {"gateway": gateway_id, "limit": limit, "worker": worker, "lease": lease_s})
        rows = await cur.fetchall()
    return [Claimed(*row) for row in rows]


_ATTEMPTS = """
INSERT INTO delivery_attempt (delivery_id, attempt, worker, started_at, ringing_at, answered_at, ended_at, outcome,
                              sip_status, seconds_played, detail)
SELECT a.delivery_id, a.attempt, %(worker)s, to_timestamp(a.started_at), to_timestamp(a.ringing_at),
       to_timestamp(a.answered_at), to_timestamp(a.ended_at), a.outcome, a.sip_status, a.seconds_played, a.detail
FROM unnest(%(delivery_ids)s::bigint[], %(attempts)s::int[], %(started)s::float8[], %(ringing)s::float8[],
            %(answered)s::float8[], %(ended)s::float8[], %(outcomes)s::text[], %(statuses)s::int[],
            %(seconds)s::float8[], %(details)s::text[])
     AS a(delivery_id, attempt, started_at, ringing_at, answered_at, ended_at, outcome, sip_status, seconds_played,
          detail)
"""


async def record(
    conn: psycopg.AsyncConnection,
    *,
    worker: str,
    gateway_id: int,
    results: list[Result],
    attempts: Sequence[AttemptLog] = (),
) -> None:
    """The results of a batch, and the attempts' logs, in one transaction."""
    if not results:
        return
    params = {
        "ids": [r.delivery_id for r in results],
        "states": [r.state for r in results],
        "message_ids": [r.message_id for r in results],
        "units": [r.units for r in results],
        "errors": [r.error[:500] for r in results],
        "maybe_sent": [r.maybe_sent for r in results],
        "acknowledged": [r.acknowledged for r in results],
        "retry_in": [r.retry_in for r in results],
        "uncounted": [r.uncounted for r in results],
        "worker": worker,
        "max_attempts": domain.MAX_ATTEMPTS,
        "gateway": gateway_id,
    }
    # Receipts that came early wait in pendingreceipt; the reaper's sweep applies them (one
    # place only, so no two transactions take those rows in different orders).
    statements: list[tuple[str, dict[str, object]]] = [(_RESULTS, params)]
    if attempts:
        statements.append((_ATTEMPTS, {
            "worker": worker,
            "delivery_ids": [a.delivery_id for a in attempts],
            "attempts": [a.attempt for a in attempts],
            "started": [a.started_at for a in attempts],
            "ringing": [a.ringing_at for a in attempts],
            "answered": [a.answered_at for a in attempts],
            "ended": [a.ended_at for a in attempts],
            "outcomes": [a.outcome for a in attempts],
            "statuses": [a.sip_status for a in attempts],
            "seconds": [a.seconds_played for a in attempts],
            "details": [a.detail[:200] for a in attempts],
        }))  # fmt: skip
    await _retrying_all(conn, statements)


async def receipts(conn: psycopg.AsyncConnection, *, gateway_id: int, items: list[tuple[str, str, str]]) -> None:
    """(message id, outcome, detail) from the gateway; early ones wait in pendingreceipt."""
    if not items:
        return
    params = {
        "gateway": gateway_id,
        "message_ids": [i[0] for i in items],
        "outcomes": [i[1] for i in items],
        "details": [i[2][:200] for i in items],
    }
    await _retrying(conn, RECEIPTS_SQL, params)


_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialisation failure, raw or wrapped by Django: worth another try."""
    return isinstance(exc, _RETRYABLE) or isinstance(exc.__cause__, _RETRYABLE)


async def _retrying(conn: psycopg.AsyncConnection, sql: str, params: dict[str, object], tries: int = 5) -> None:
    """One statement in its own transaction, again after a deadlock or serialisation failure."""
    await _retrying_all(conn, [(sql, params)], tries)


async def _retrying_all(
    conn: psycopg.AsyncConnection, statements: list[tuple[str, dict[str, object]]], tries: int = 5
) -> None:
    """Statements in one transaction, again after a deadlock or serialisation failure."""
    for attempt in range(tries):
        try:
            async with conn.transaction():
                for sql, params in statements:
                    await conn.execute(sql, params)
            return
        except _RETRYABLE:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))


_EXPIRE = """
UPDATE delivery_delivery d
SET state = 'expired', final_at = now(), error = 'the message expired before it could be sent'
FROM delivery_sendrequest r
WHERE r.expires_at < now() AND d.request_id = r.id AND d.state = 'queued'
"""


async def expire(conn: psycopg.AsyncConnection) -> int:
    """Deliveries still queued after their request's expiry end as expired: a late alert can mislead."""
    async with conn.transaction():
        cur = await conn.execute(_EXPIRE)
    return cur.rowcount


async def reap(conn: psycopg.AsyncConnection) -> int:
    async with conn.transaction():
        cur = await conn.execute(_REAP)
    return cur.rowcount


async def take_tokens(conn: psycopg.AsyncConnection, *, gateway_id: int, want: int) -> int:
    """Up to ``want`` sends allowed now by the gateway's rate, shared by every worker (a token bucket
    in the gateway's row, holding at most one second of traffic)."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT rate_per_s, tokens, EXTRACT(EPOCH FROM clock_timestamp() - tokens_at)::float8"
            " FROM delivery_gateway WHERE id = %s FOR UPDATE",
            [gateway_id],
        )
        row = await cur.fetchone()
        if row is None:
            return 0
        rate, tokens, elapsed = float(row[0]), float(row[1]), max(0.0, float(row[2]))
        available = min(max(rate, 1.0), tokens + rate * elapsed)
        granted = max(0, min(want, int(available)))
        await conn.execute(
            "UPDATE delivery_gateway SET tokens = %s, tokens_at = clock_timestamp() WHERE id = %s",
            [available - granted, gateway_id],
        )
    return granted


async def give_back(conn: psycopg.AsyncConnection, *, gateway_id: int, tokens: int) -> None:
    """Return tokens a runner took but found no work for."""
    if tokens > 0:
        await conn.execute(
            "UPDATE delivery_gateway SET tokens = LEAST(GREATEST(rate_per_s, 1), tokens + %s) WHERE id = %s",
            [tokens, gateway_id],
        )


async def apply_pending_receipts(conn: psycopg.AsyncConnection) -> None:
    """Receipts that raced ahead of their delivery's commit: matched now, for every gateway.

    A receipt can arrive on one connection while the submit result is still being committed on
    another; this sweep (run by the reaper every second) makes sure none is left behind.
    """
    await _retrying(conn, _APPLY_PENDING, {"gateway": None})
    async with conn.transaction():
        await conn.execute("DELETE FROM delivery_pendingreceipt WHERE received_at < now() - interval '2 days'")
