"""From signals to alarm cases (issue 9): the case builder.

The receiver only stores frames (``arc_signal``, ``pending``) and raises supervision faults; this builder
reads them, in the order they were stored, into the operators' alarm cases:

- an alarm or trouble event opens a case for its account and kind (fire, personal, burglary, technical),
  or joins the open one: a second zone of the same system is the same alarm (sequential detection);
- a restore marks what it restores (same family of code, same zone) as restored; a technical or
  supervision case that nobody has claimed closes when everything in it is restored. An alarm case
  stays for the operator: a burglar can close the door he came through;
- a supervision fault ("late to test") opens a supervision case; the panel's return restores it.

One builder works at a time (an advisory lock), so two never open the same case; ``run_forever`` is the
``tocsin arc cases`` loop, a few times a second.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tocsin.arc.domain import ACTION_PLANS, PRIORITY, Category, Classified, classify
from tocsin.arc.models import AlarmCase, CaseEvent, CaseLog, CaseStep, Signal, SupervisionFault, ZoneMap

log = logging.getLogger("tocsin.arc.cases")

BUILDER_LOCK = 7002
BATCH = 2000
AUTO_CLOSED = frozenset({Category.TECHNICAL, Category.SUPERVISION})


class _Cases:
    """The open cases a batch touches, read at once (locked: an operator's close waits for the batch), and
    the new ones, created together with their action plans."""

    def __init__(self, account_ids: set[int]):
        self.open: dict[tuple[int, str], AlarmCase] = {
            (c.account_id, c.category): c
            for c in AlarmCase.objects.select_for_update().filter(account_id__in=account_ids).exclude(state="closed")
        }
        self.new: list[AlarmCase] = []

    def get(self, account_id: int, central_id: int, system_id: int | None, category: Category, title: str,
            at: datetime) -> AlarmCase:  # fmt: skip
        key = (account_id, category.value)
        case = self.open.get(key)
        if case is None:
            now = timezone.now()
            case = AlarmCase(
                central_id=central_id, account_id=account_id, system_id=system_id, category=category.value,
                priority=PRIORITY[category], title=title[:200], opened_at=now, first_signal_at=at, updated_at=now,
            )  # fmt: skip
            self.open[key] = case
            self.new.append(case)
        return case

    def create(self) -> None:
        """Write the new cases (their ids are needed by their events), each with its plan and history."""
        if not self.new:
            return
        AlarmCase.objects.bulk_create(self.new)
        CaseStep.objects.bulk_create(
            CaseStep(case=case, step=step.value, position=i)
            for case in self.new
            for i, step in enumerate(ACTION_PLANS[Category(case.category)])
        )
        CaseLog.objects.bulk_create(
            CaseLog(case=case, at=case.opened_at, what="opened", data={"category": case.category, "title": case.title})
            for case in self.new
        )


def build_cases(limit: int = BATCH) -> int:
    """Read the pending signals and new supervision faults into cases; returns how many were read."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [BUILDER_LOCK])
            (locked,) = cursor.fetchone()
        if not locked:
            return 0  # another builder is at work
        signals = list(
            Signal.objects.filter(pending=True)
            .select_related("account")
            .order_by("id")
            .only("id", "account_id", "central_id", "received_at", "events", "extended", "account__system_id")[:limit]
        )
        faults = list(SupervisionFault.objects.filter(cased=False).select_related("account").order_by("id")[:limit])
        if not signals and not faults:
            _restore_supervision()
            return 0
        zones: dict[tuple[int, str], tuple[str, str]] = {
            (z.account_id, z.zone): (z.detection_code, z.label)
            for z in ZoneMap.objects.filter(account_id__in={s.account_id for s in signals})
        }
        cases = _Cases({s.account_id for s in signals} | {f.account_id for f in faults})
        pending: list[tuple[AlarmCase, CaseEvent]] = []  # events whose case may not have an id yet
        touched: dict[int, AlarmCase] = {}  # by id(): new cases have no pk yet
        restores: list[tuple[Signal, Classified]] = []
        for signal in signals:
            for event in signal.events or []:
                c = classify(event)
                if c.restore:
                    restores.append((signal, c))
                    continue
                if c.category is None:
                    continue  # an opening, closing, test or status: in the signal history only
                title = f"{c.code} {c.description}".strip()
                case = cases.get(signal.account_id, signal.central_id, signal.account.system_id, c.category, title,
                                 signal.received_at)  # fmt: skip
                code, label = zones.get((signal.account_id, c.zone), ("", ""))
                pending.append((case, CaseEvent(signal_id=signal.pk, at=signal.received_at, code=c.code, zone=c.zone,
                                                family=c.family, description=c.description[:200],
                                                detection_code=code, zone_label=label[:200])))  # fmt: skip
                case.events += 1
                case.restored = False
                touched[id(case)] = case
        for fault in faults:
            case = cases.get(fault.account_id, fault.account.central_id, fault.account.system_id, Category.SUPERVISION,
                             "Late to test: no poll from the panel", fault.raised_at)  # fmt: skip
            pending.append((case, CaseEvent(at=fault.raised_at, code="LATE", family="LATE",
                                            description="Late to test (communications failure)")))  # fmt: skip
            case.events += 1
            case.restored = False
            touched[id(case)] = case
        cases.create()
        for case, event in pending:
            event.case = case
        CaseEvent.objects.bulk_create(event for _, event in pending)
        by_pk = {case.pk: case for case in touched.values()}
        for signal, c in restores:
            _restore(signal, c, by_pk)
        now = timezone.now()
        for case in by_pk.values():
            case.updated_at = now
        _write_back(list(by_pk.values()))
        Signal.objects.filter(pk__in=[s.pk for s in signals]).update(pending=False)
        SupervisionFault.objects.filter(pk__in=[f.pk for f in faults]).update(cased=True)
        _restore_supervision()
    return len(signals) + len(faults)


def _write_back(cases: list[AlarmCase]) -> None:
    """The touched cases' counters and states in one statement (Django's bulk_update builds a CASE per field and
    row: most of a batch's time)."""
    if not cases:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE arc_alarmcase AS c SET events = v.events, restored = v.restored, updated_at = v.updated_at, "
            "state = v.state, closed_at = v.closed_at, close_reason = v.close_reason "
            "FROM unnest(%s::bigint[], %s::integer[], %s::boolean[], %s::timestamptz[], %s::text[], "
            "%s::timestamptz[], %s::text[]) AS v(id, events, restored, updated_at, state, closed_at, close_reason) "
            "WHERE c.id = v.id",
            [
                [c.pk for c in cases], [c.events for c in cases], [c.restored for c in cases],
                [c.updated_at for c in cases], [c.state for c in cases], [c.closed_at for c in cases],
                [c.close_reason for c in cases],
            ],
        )  # fmt: skip


def _restore(signal: Signal, c: Classified, touched: dict[int, AlarmCase]) -> None:
    """Mark what a restore restores; close a technical case nobody claimed once all of it is restored."""
    matched = CaseEvent.objects.filter(
        case__account_id=signal.account_id, family=c.family, zone=c.zone, restore=False, restored_at=None
    ).exclude(case__state="closed")
    case_ids = set(matched.values_list("case_id", flat=True))
    if not case_ids:
        return
    matched.update(restored_at=signal.received_at)
    for case in AlarmCase.objects.filter(pk__in=case_ids):
        case = touched.get(case.pk, case)
        CaseEvent.objects.create(case=case, signal_id=signal.pk, at=signal.received_at, code=c.code, zone=c.zone,
                                 family=c.family, description=c.description[:200], restore=True)  # fmt: skip
        case.events += 1
        _settle(case)
        touched[case.pk] = case


def _settle(case: AlarmCase) -> None:
    if CaseEvent.objects.filter(case=case, restore=False, restored_at=None).exists():
        return
    case.restored = True
    if Category(case.category) in AUTO_CLOSED and case.state == AlarmCase.OPEN:
        case.state = AlarmCase.CLOSED
        case.closed_at = timezone.now()
        case.close_reason = "restored"
        CaseLog.objects.create(case=case, what="closed", data={"reason": "restored"})


def _restore_supervision() -> None:
    """A supervision case whose account has no open fault any more: the panel is back."""
    back = AlarmCase.objects.filter(category=Category.SUPERVISION.value, restored=False).exclude(state="closed")
    back = back.exclude(account__faults__cleared_at=None)
    for case in back:
        CaseEvent.objects.filter(case=case, restored_at=None, restore=False).update(restored_at=timezone.now())
        CaseEvent.objects.create(case=case, at=timezone.now(), code="BACK", family="LATE", restore=True,
                                 description="The panel is back")  # fmt: skip
        case.events += 1
        _settle(case)
        AlarmCase.objects.filter(pk=case.pk).update(
            events=case.events, restored=case.restored, state=case.state, closed_at=case.closed_at,
            close_reason=case.close_reason, updated_at=timezone.now(),
        )  # fmt: skip


def run_forever(*, interval_s: float = 0.1, stop: Any = None) -> None:
    """``tocsin arc cases``: build cases from new signals a few times a second, until ``stop()`` says so."""
    counts: dict[str, int] = defaultdict(int)
    while stop is None or not stop():
        try:
            read = build_cases()
        except Exception:  # the database away a moment: try again
            log.exception("building cases")
            read = 0
        counts["read"] += read
        if read < BATCH:
            time.sleep(interval_s)
