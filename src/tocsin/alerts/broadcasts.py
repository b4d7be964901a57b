"""Area broadcasts and partner pushes: what goes out of an alert beyond the outbox.

Location-based SMS (one CAP document to each mobile operator's endpoint) and cell broadcast (one message per
language to each cell broadcast centre) reach every phone in the area, registered or not: BA-4-T1 / BA-4-T2
(type-1 entities only) are checked with the draft in ``domain.check_targets``. Partners (signage, media,
apps) receive every public alert's CAP document, signed.

The rows are written in the launch's transaction and their jobs deferred in it, so they exist exactly when
the alert is launched; the jobs (queue ``broadcast``) do the network calls, with retries, never inside a
transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tocsin.alerts import domain
from tocsin.alerts.models import Alert, AreaBroadcast, FeedPartner, PartnerPush
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.protocols import broadcast as wire

logger = logging.getLogger("tocsin.alerts")
MAX_ATTEMPTS = 5
ACTIVE = ("accepted", "broadcasting")
ON_AIR = ("sending", *ACTIVE)  # what a Cancel must take off the air (or may have reached the gateway)
FINAL = ("ended", "failed", "withdrawn")
CB_REPETITION = 30  # CBSP repetition period units (1.883 s): about once a minute
CB_UNIT_S = 1.883


def _gateways(channel: str, organisation_id: int) -> list[Any]:
    """The platform's gateways of a channel, and the entity's own (never another entity's)."""
    from django.db.models import Q

    from tocsin.delivery.models import Gateway

    mine = Q(organisation__isnull=True) | Q(organisation_id=organisation_id)
    return list(Gateway.objects.filter(mine, channel=channel, enabled=True).order_by("name"))


def _touched(alert: Alert) -> list[str]:
    from tocsin.geo.domain import area_from_json
    from tocsin.geo.selectors import municipalities_touched

    codes: set[str] = set()
    for area_json in (alert.targets or {}).get("areas") or []:
        codes.update(municipalities_touched(area_from_json(area_json)))
    return sorted(codes)


def cb_languages(alert: Alert, touched: list[str]) -> list[str]:
    """The languages a cell broadcast carries: the area's official ones (most municipalities first) the alert
    has texts in, at most two (a first and a second-language message identifier), else its first text."""
    from tocsin.geo.models import Municipality

    counts: Counter[str] = Counter()
    for languages in Municipality.objects.filter(nis_code__in=touched).values_list("languages", flat=True):
        counts.update(lang for lang in languages.split(",") if lang)
    ordered = [lang for lang, _n in counts.most_common() if lang in alert.texts][:2]
    return ordered or sorted(alert.texts, key=domain.LANGUAGES.index)[:1]


def plan(alert: Alert) -> list[dict[str, Any]]:
    """Which area-broadcast gateways the alert goes to, in which languages, and how far a cell broadcast
    reaches: osmo-cbc broadcasts to its whole network (scope_plmn), so a centre whose coverage (its config's
    NIS codes) misses the area is left out and one reaching beyond it says by how many municipalities."""
    out: list[dict[str, Any]] = []
    wanted = [c for c in alert.channels if c in domain.AREA_CHANNELS]
    if not wanted:
        return out
    touched = _touched(alert)
    for channel in wanted:
        for gateway in _gateways(channel, alert.organisation_id):
            item: dict[str, Any] = {"gateway_id": gateway.pk, "gateway": gateway.name, "channel": channel}
            if channel == "cb":
                coverage = [str(c) for c in gateway.config.get("coverage") or []]
                if coverage and not set(coverage) & set(touched):
                    continue
                languages = cb_languages(alert, touched)
                item["languages"] = languages
                item["pages"] = {
                    lang: domain.cb_pages(domain.marked(alert.status, lang, alert.texts[lang]["cb"]))[1]
                    for lang in languages
                }
                item["beyond_area"] = len(set(coverage) - set(touched)) if coverage else None
            else:
                item["languages"] = sorted(alert.texts, key=domain.LANGUAGES.index)
            out.append(item)
    return out


def check_plan(alert: Alert, planned: list[dict[str, Any]]) -> None:
    """A chosen area channel with no gateway to take it is refused before launch, not skipped in silence."""
    for channel in alert.channels:
        if channel in domain.AREA_CHANNELS and not any(item["channel"] == channel for item in planned):
            if channel == "lbsms":
                template = gettext_noop("No mobile operator is configured for location-based SMS.")
            else:
                template = gettext_noop("No cell broadcast centre covers this area.")
            raise RuleError(template, field="channels")


def chain(alert: Alert) -> list[Alert]:
    """The alert and the ones it follows up, newest first."""
    chain = [alert]
    while chain[-1].references_id is not None:
        earlier = chain[-1].references
        assert earlier is not None
        chain.append(earlier)
    return chain


def _lock(row: AreaBroadcast) -> str:
    """One lock per alert chain and gateway: the original's send, an Update's, a withdrawal and the polls of
    one gateway run one after the other, in the order they were deferred."""
    return f"broadcast-{chain(row.alert)[-1].pk}-{row.gateway_id}"


def _defer(job: Any, row: AreaBroadcast, delay: float = 0, **kwargs: Any) -> None:
    options: dict[str, Any] = {"lock": _lock(row)}
    if delay:
        options["schedule_in"] = {"seconds": int(delay)}
    job.configure(**options).defer(**kwargs)


def broadcasts_create(alert: Alert, planned: list[dict[str, Any]]) -> list[AreaBroadcast]:
    """In the launch's transaction: a row per gateway, and its send job. An Update's gateways drop what of
    the original never went out (it is replaced before it did)."""
    from tocsin.alerts.tasks import broadcast_send

    if alert.references_id:
        gateways = [item["gateway_id"] for item in planned]
        AreaBroadcast.objects.filter(alert_id=alert.references_id, gateway_id__in=gateways, state="queued",
                                     attempts=0).update(state="ended", error="replaced by an update before it went out",
                                                        updated_at=timezone.now())  # fmt: skip
    rows = [
        AreaBroadcast.objects.create(alert=alert, gateway_id=item["gateway_id"], channel=item["channel"])
        for item in planned
    ]
    for row in rows:
        _defer(broadcast_send, row, broadcast_id=row.pk)
    return rows


def _expires(alert: Alert) -> Any:
    return alert.expires or (alert.launched_at or timezone.now()) + timedelta(hours=6)


def _num_of_bcast(alert: Alert, repetition_period: int) -> int:
    """Repetitions until the alert expires, so the broadcast stops then even if the CBC is not told."""
    seconds = max(60.0, (_expires(alert) - timezone.now()).total_seconds())
    return min(65535, max(1, int(seconds / (repetition_period * CB_UNIT_S))))


def _fail_or_retry(row: AreaBroadcast, error: wire.BroadcastError, job: Any, *, gives_up: str, **kwargs: Any) -> bool:
    """After a failed call: try again later (2, 4 … 60 s apart) while the alert is current, or give up — a
    refusal at once. True when it gave up."""
    row.attempts += 1
    row.error = str(error)[:300]
    row.updated_at = timezone.now()
    delay = min(60, 2**row.attempts)
    gave_up = error.permanent or timezone.now() + timedelta(seconds=delay) > _expires(row.alert)
    if gave_up:
        row.state = gives_up
        logger.error("area broadcast %s: gave up (%s): %s", row.pk, gives_up, error)
    else:
        _defer(job, row, delay, **kwargs)
    row.save(update_fields=["attempts", "error", "state", "updated_at"])
    return gave_up


def _unexpected(exc: Exception) -> wire.BroadcastError:
    """A fault of ours or of the configuration (a missing key, an unreadable CA file): shown, not retried."""
    logger.exception("area broadcast: unexpected error")
    return wire.BroadcastError(f"{type(exc).__name__}: {exc}"[:300], permanent=True)


def broadcast_send(broadcast_id: int) -> None:
    """Hand the alert to the gateway (the job). An Update first replaces what the original put on the air."""
    from tocsin.alerts.tasks import broadcast_poll
    from tocsin.alerts.tasks import broadcast_send as job

    # Claim it: a Cancel launched while the call is under way sees "sending" and defers a withdrawal, which
    # runs after this job (same lock) — rather than marking "withdrawn" a broadcast about to go on the air.
    claimed = AreaBroadcast.objects.filter(pk=broadcast_id, state="queued").update(
        state="sending", updated_at=timezone.now()
    )
    if not claimed:
        return  # withdrawn or replaced before it went, or done by an earlier run
    row = AreaBroadcast.objects.select_related("alert", "gateway", "alert__references").get(pk=broadcast_id)
    alert, gateway = row.alert, row.gateway
    if alert.state == "cancelled":
        # A retry after the alert was cancelled: never send it. The Cancel deferred a withdrawal (this row was
        # in doubt), which runs next under the same lock and tells the gateway.
        row.state = "queued"
        row.save(update_fields=["state"])
        return
    try:
        if row.channel == "lbsms":
            reference = wire.lbsms_submit(gateway.config, alert.cap_xml.encode())
            row.remote_ids = [reference]
        else:
            _send_cb(row)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row, none leaves it "sending"
        error = exc if isinstance(exc, wire.BroadcastError) else _unexpected(exc)
        row.state = "queued"  # for the next try
        _fail_or_retry(row, error, job, gives_up="failed", broadcast_id=row.pk)
        return
    row.state = "accepted" if row.channel == "lbsms" else "broadcasting"
    row.error, row.attempts, row.updated_at = "", 0, timezone.now()
    row.save(update_fields=["remote_ids", "state", "error", "attempts", "updated_at"])
    if alert.references_id and row.channel == "lbsms":
        # The operator replaces the original with the Update.
        AreaBroadcast.objects.filter(alert_id=alert.references_id, gateway=gateway, state__in=ACTIVE).update(
            state="ended", updated_at=timezone.now()
        )
    if row.channel == "lbsms":
        _defer(broadcast_poll, row, poll_s(), broadcast_id=row.pk)


def _send_cb(row: AreaBroadcast) -> None:
    """One message per language; the original's messages deleted first (osmo-cbc cannot replace one)."""
    alert, gateway = row.alert, row.gateway
    messages = chain(alert)
    if alert.references_id:
        _stop_cb(alert.references_id, gateway.pk)
    repetition = int(gateway.config.get("repetition_period") or CB_REPETITION)
    sent = list(row.remote_ids)
    for index, language in enumerate(cb_languages(alert, _touched(alert))):
        message_id = domain.cb_message_id(
            status=alert.status, severity=alert.severity, urgency=alert.urgency,
            certainty=alert.certainty, second_language=index > 0,
        )  # fmt: skip
        if message_id in sent:
            continue  # created by an earlier try of this job
        body = wire.cb_body(
            cbe_name=str(gateway.config["cbe_name"]), message_id=message_id, msg_code=messages[-1].pk,
            update_nr=len(messages) - 1, text=domain.marked(alert.status, language, alert.texts[language]["cb"]),
            language=language, repetition_period=repetition, num_of_bcast=_num_of_bcast(alert, repetition),
            high_priority=alert.severity in ("Extreme", "Severe"),
        )  # fmt: skip
        try:
            wire.cb_create(gateway.config, body)
        except wire.BroadcastError as exc:
            # An earlier try that got no answer may have created it: osmo-cbc then answers 409 for our own
            # message. Taken as ours (a refusal would have ended the earlier try, not queued it again).
            if not (exc.status == 409 and row.attempts > 0):
                raise
        sent.append(message_id)
        row.remote_ids = sent
        row.save(update_fields=["remote_ids"])


def _stop_cb(alert_id: int, gateway_id: int) -> None:
    for earlier in AreaBroadcast.objects.filter(alert_id=alert_id, gateway_id=gateway_id, channel="cb"):
        if earlier.state in ACTIVE:
            for message_id in earlier.remote_ids:
                wire.cb_delete(earlier.gateway.config, int(message_id))
            earlier.state, earlier.updated_at = "ended", timezone.now()
            earlier.save(update_fields=["state", "updated_at"])


def poll_s() -> int:
    return int(getattr(settings, "TOCSIN_BROADCAST_POLL_S", 5))


def broadcast_poll(broadcast_id: int) -> None:
    """Read the operator's counts (the job), again every few seconds until the broadcast ends."""
    from tocsin.alerts.tasks import broadcast_poll as job

    row = AreaBroadcast.objects.select_related("alert", "gateway").filter(pk=broadcast_id).first()
    if row is None or row.state not in ACTIVE or not row.remote_ids:
        return
    try:
        state, counts = wire.lbsms_status(row.gateway.config, str(row.remote_ids[0]))
    except Exception as exc:  # noqa: BLE001 - the counts are read again at the next poll
        row.error = str(exc if isinstance(exc, wire.BroadcastError) else _unexpected(exc))[:300]
        row.save(update_fields=["error"])
    else:
        row.state = {"cancelled": "withdrawn"}.get(state, state)
        row.counts, row.error, row.updated_at = counts, "", timezone.now()
        row.save(update_fields=["state", "counts", "error", "updated_at"])
    if row.state in ACTIVE and timezone.now() < _expires(row.alert) + timedelta(hours=1):
        _defer(job, row, poll_s(), broadcast_id=row.pk)


def broadcasts_withdraw(cancel: Alert) -> int:
    """In a Cancel's launch transaction, for every alert of the chain it cancels: what never went out is
    withdrawn now; what is on the air, being sent, or was tried without an answer (it may have arrived) gets
    a withdrawal job (a CAP Cancel to the operator, a DELETE to the CBC). Returns how many jobs."""
    from tocsin.alerts.tasks import broadcast_withdraw

    now = timezone.now()
    earlier = [a.pk for a in chain(cancel)[1:]]
    rows = AreaBroadcast.objects.select_for_update().filter(alert_id__in=earlier)
    rows.filter(state="queued", attempts=0).update(
        state="withdrawn", updated_at=now, error="withdrawn before it went out"
    )
    active = [
        row for row in rows.select_for_update(of=("self",)).select_related("alert", "alert__references")
        if row.state in (*ON_AIR, "queued") or (row.state == "failed" and row.remote_ids)
    ]  # fmt: skip
    for row in active:
        _defer(broadcast_withdraw, row, broadcast_id=row.pk, cancel_id=cancel.pk)
    return len(active)


def broadcast_withdraw(broadcast_id: int, cancel_id: int) -> None:
    """Take an alert off the air (the job): a CAP Cancel to the operator, a DELETE per message to the CBC.

    It runs after any send job of the same chain and gateway (same procrastinate lock). A broadcast whose
    send got no answer (queued for a retry, or left "sending" by a killed worker) may still have reached the
    gateway: it is told too, and an operator that never heard of it refusing the Cancel is taken as done."""
    from tocsin.alerts.tasks import broadcast_withdraw as job

    row = AreaBroadcast.objects.select_related("gateway", "alert").filter(pk=broadcast_id).first()
    cancel = Alert.objects.filter(pk=cancel_id).first()
    if row is None or cancel is None or row.state in ("ended", "withdrawn"):
        return
    if row.state == "failed" and not row.remote_ids:
        return
    in_doubt = row.state in ("queued", "sending")
    try:
        if row.channel == "lbsms":
            wire.lbsms_submit(row.gateway.config, cancel.cap_xml.encode())
        else:
            for message_id in row.remote_ids:
                wire.cb_delete(row.gateway.config, int(message_id))
    except Exception as exc:  # noqa: BLE001 - recorded on the row
        error = exc if isinstance(exc, wire.BroadcastError) else _unexpected(exc)
        if not (in_doubt and error.permanent and row.channel == "lbsms"):
            if _fail_or_retry(row, error, job, gives_up=row.state, broadcast_id=row.pk, cancel_id=cancel_id):
                row.error = f"NOT withdrawn: {row.error}"[:300]
                row.save(update_fields=["error"])
            return
    row.state, row.error, row.attempts, row.updated_at = "withdrawn", "", 0, timezone.now()
    row.save(update_fields=["state", "error", "attempts", "updated_at"])


def broadcast_summary(alert: Alert) -> list[dict[str, Any]]:
    """The area broadcasts of an alert as the dashboard shows them: gateway, state, counts."""
    return [
        {"id": row.pk, "gateway": row.gateway.name, "channel": row.channel, "state": row.state,
         "counts": row.counts, "error": row.error, "attempts": row.attempts}
        for row in AreaBroadcast.objects.filter(alert=alert).select_related("gateway").order_by("channel", "pk")
    ]  # fmt: skip


# --- partners ------------------------------------------------------------------------------------------


def pushes_create(alert: Alert) -> int:
    """In the launch's transaction: every enabled partner gets the alert's CAP document (actual alerts only:
    an exercise or a test stays inside the entity)."""
    from tocsin.alerts.tasks import partner_push

    if alert.status != "Actual":
        return 0
    count = 0
    for partner in FeedPartner.objects.filter(enabled=True):
        push = PartnerPush.objects.create(partner=partner, alert=alert)
        partner_push.configure(lock=f"push-{push.pk}").defer(push_id=push.pk)
        count += 1
    return count


SIGNATURE_HEADER = "X-Tocsin-Signature"


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body with the partner's secret (partners check it)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def partner_push(push_id: int) -> None:
    """POST the CAP document to the partner (the job); 2xx ends it, anything else is tried again."""
    import httpx

    from tocsin.alerts.tasks import partner_push as job

    push = PartnerPush.objects.select_related("partner", "alert").filter(pk=push_id).first()
    if push is None or push.state != "queued":
        return
    body = push.alert.cap_xml.encode()
    headers = {
        "Content-Type": "application/cap+xml",
        SIGNATURE_HEADER: signature(push.partner.secret, body),
        "X-Tocsin-Alert": push.alert.identifier,
    }
    push.attempts += 1
    try:
        with httpx.Client(timeout=wire.TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = client.post(push.partner.url, content=body, headers=headers)
        push.status_code = response.status_code
        ok = 200 <= response.status_code < 300
        push.error = "" if ok else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        ok, push.error = False, f"{type(exc).__name__}: {exc}"[:300]
    if ok:
        push.state, push.pushed_at = "pushed", timezone.now()
    elif push.attempts >= MAX_ATTEMPTS:
        push.state = "failed"
    else:
        job.configure(lock=f"push-{push.pk}", schedule_in={"seconds": 2**push.attempts}).defer(push_id=push.pk)
    push.save(update_fields=["state", "attempts", "status_code", "error", "pushed_at"])


def partner_add(*, name: str, url: str, actor: Any = None) -> tuple[FeedPartner, str]:
    """A new partner, with its signing secret (shown once: only the partner keeps it)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise RuleError(gettext_noop("Name the partner (1 to 100 characters)."), field="name")
    if not url.startswith("https://") and not (settings.DEBUG or url.startswith("http://127.0.0.1")):
        raise RuleError(gettext_noop("A partner is reached over HTTPS."), field="url")
    secret = secrets.token_hex(32)
    with transaction.atomic():
        partner = FeedPartner.objects.create(name=name, url=url, secret=secret)
        audit_record(action="partner.added", actor=actor, organisation_id=None, object_type="partner",
                     object_id=partner.pk, data={"name": name, "url": url})  # fmt: skip
    return partner, secret
