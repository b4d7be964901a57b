"""Writes for alerts: draft, preview, launch, follow-up (Update / Cancel). Rules: BA-2, BA-4-T1, BA-4-T2,
BA-7-BIN, BA-7-LISTS.

Launching writes every delivery of every channel to the outbox in one transaction: an alert is launched
entirely or not at all. What it was launched with (recipients per channel and language, texts, the CAP
document) is frozen on the alert, so later edits to lists or registrations never change it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tocsin.alerts import broadcasts, domain
from tocsin.alerts.domain import State
from tocsin.alerts.models import Alert
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound, access_check
from tocsin.protocols import cap, gsm

EDITABLE = (
    "status", "category", "event", "urgency", "severity", "certainty", "response_types", "onset", "expires",
    "web", "contact", "general_interest", "texts", "channels", "targets",
)  # fmt: skip
DEFAULT_TTL = timedelta(hours=6)


def _require_operator(actor: User) -> None:
    access_check(actor)
    if not actor.has_role(Role.ADMIN, Role.OPERATOR):
        raise AccessDenied(
            gettext_noop("Only an operator or administrator of the entity may prepare or launch alerts.")
        )
    if Kind(actor.organisation.kind) not in (Kind.MUNICIPALITY, Kind.GOVERNOR, Kind.POLICE_ZONE, Kind.OTHER_TYPE2):
        raise AccessDenied(gettext_noop("Only alerting entities launch alerts (BA-4-T1, BA-4-T2)."), rule="BA-4-T1")


def _own(actor: User, alert_id: int, *, for_update: bool = False) -> Alert:
    rows = Alert.objects.filter(organisation_id=actor.organisation_id, pk=alert_id)
    alert = (rows.select_for_update() if for_update else rows).first()
    if alert is None:
        raise NotFound(gettext_noop("No such alert."))
    return alert


def _check_draft(actor: User, fields: Mapping[str, Any]) -> None:
    domain.check_cap_fields(fields)
    channels = list(fields.get("channels") or [])
    if not channels or any(c not in domain.CHANNELS for c in channels):
        raise RuleError(gettext_noop("Choose the channels: sms, email, voice, lbsms, cb."), field="channels")
    domain.check_texts(fields.get("texts") or {}, channels)
    org = actor.organisation
    domain.check_targets(
        Kind(org.kind), bin_option=org.bin_option, targets=fields.get("targets") or {}, channels=channels
    )
    from tocsin.audiences.models import ContactList
    from tocsin.audiences.selectors import bin_group_may_send

    test_lists = set(ContactList.objects.filter(organisation=org, is_test=True).values_list("pk", flat=True))
    domain.check_exercise(str(fields.get("status") or "Actual"), fields.get("targets") or {}, test_lists=test_lists)
    for group_id in (fields.get("targets") or {}).get("bin_groups") or []:
        # BA-7-BIN: sending to a BIN group is delegated; both the coordinator and the police officer approved.
        bin_group_may_send(group_id=int(group_id), user=actor)
    from tocsin.geo.domain import area_from_json

    for i, area in enumerate((fields.get("targets") or {}).get("areas") or []):
        try:
            area_from_json(area)
        except RuleError as exc:
            raise RuleError(exc.template, field=f"targets.areas[{i}].{exc.field}", params=exc.params) from None


def alert_create(*, actor: User, **fields: Any) -> Alert:
    """A draft; every rule is checked now so the operator learns early, and again at launch."""
    _require_operator(actor)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise RuleError(gettext_noop("Unknown field."), field=sorted(unknown)[0])
    values = {
        "status": "Actual", "category": "Safety", "urgency": "Immediate", "severity": "Severe",
        "certainty": "Observed", "response_types": [], "channels": ["sms"], "targets": {}, "texts": {},
        **fields,
    }  # fmt: skip
    _check_draft(actor, values)
    with transaction.atomic():
        alert = Alert.objects.create(
            organisation_id=actor.organisation_id, created_by=actor, updated_by=actor,
            identifier=f"pending-{timezone.now().timestamp()}", **values,
        )  # fmt: skip
        alert.identifier = _identifier(alert)
        alert.save(update_fields=["identifier"])
        audit_record(action="alert.drafted", actor=actor, organisation_id=actor.organisation_id,
                     object_type="alert", object_id=alert.pk)  # fmt: skip
    return alert


def _identifier(alert: Alert) -> str:
    """Unique and stable: platform, organisation, alert (CAP: no spaces, commas, '<' or '&')."""
    return f"BE-TOCSIN-{alert.organisation_id}-{alert.pk}"


def alert_update(*, actor: User, alert_id: int, **fields: Any) -> Alert:
    _require_operator(actor)
    with transaction.atomic():
        alert = _own(actor, alert_id, for_update=True)
        if alert.state != State.DRAFT.value:
            raise RuleError(gettext_noop("Only a draft can be changed; launch an Update instead."), field="state")
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise RuleError(gettext_noop("Unknown field."), field=sorted(unknown)[0])
        values = {name: fields.get(name, getattr(alert, name)) for name in EDITABLE}
        _check_draft(actor, values)
        for name, value in fields.items():
            setattr(alert, name, value)
        alert.updated_at = timezone.now()
        alert.updated_by = actor
        alert.approved_by, alert.approved_at = None, None  # a changed text needs a new approval
        alert.save()
    return alert


# --- recipients -------------------------------------------------------------------------------


@dataclass
class Recipients:
    """Per channel, (address, language) pairs, each address once."""

    by_channel: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        return {ch: dict(Counter(language for _v, language in rows)) for ch, rows in self.by_channel.items()}

    @property
    def total(self) -> int:
        return len({value for rows in self.by_channel.values() for value, _l in rows})


def _resolve(alert: Alert) -> Recipients:
    """Who the alert reaches, per channel, in which language — lists, BIN groups and areas together."""
    from tocsin.audiences.selectors import bin_group_members_for_send, contact_list_recipients_for_send
    from tocsin.citizens.selectors import area_contact_points, registrations_contact_points
    from tocsin.geo.domain import area_from_json

    org = alert.organisation
    languages = sorted(alert.texts, key=domain.LANGUAGES.index)
    official = _official_language(org.nis_code)
    wanted = set(alert.channels)
    found: dict[str, dict[str, str]] = defaultdict(dict)

    def add(channel: str, value: str, own_language: str) -> None:
        if channel in wanted:
            found[channel].setdefault(value, domain.recipient_language(own_language, languages, official))

    # Citizens first: a person's own choice of language wins over what a list says of them.
    targets = alert.targets or {}
    for area_json in targets.get("areas") or []:
        area = area_from_json(area_json)
        for channel, value, language in area_contact_points(area, general_interest=alert.general_interest):
            add(channel, value, language)
    if targets.get("bin_groups"):
        members = bin_group_members_for_send(organisation=org, group_ids=targets["bin_groups"])
        for channel, value, language in registrations_contact_points(members, bin_message=True):
            add(channel, value, language)
    if targets.get("lists"):
        kinds = contact_list_recipients_for_send(organisation=org, list_ids=targets["lists"])
        for value, language in kinds.get("mobile", []):
            add("sms", value, language)
            add("voice", value, language)
        for value, language in kinds.get("landline", []):
            add("voice", value, language)
        for value, language in kinds.get("email", []):
            add("email", value, language)
    return Recipients({ch: list(rows.items()) for ch, rows in found.items() if rows})


def _official_language(nis_code: str) -> str:
    """The first official language of the entity's municipality (nl, fr or de), for people without a choice
    the alert covers."""
    from tocsin.geo.models import Municipality

    languages = Municipality.objects.filter(nis_code=nis_code).values_list("languages", flat=True).first()
    return (languages or "nl").split(",")[0]


def _units(alert: Alert, recipients: Recipients) -> int:
    """SMS parts to be billed: each language's (marked) text cut once, times its recipients — the estimate
    shown before launch."""
    per_language = Counter(language for _value, language in recipients.by_channel.get("sms", []))
    return sum(
        gsm.segment(domain.marked(alert.status, language, alert.texts[language]["sms"])).count * count
        for language, count in per_language.items()
    )


def _shown(alert: Alert, language: str) -> dict[str, str]:
    """The texts of one language as recipients will read them (an exercise's mark included)."""
    marked = ("sms", "email_subject", "email_body", "cb", "voice")
    return {k: domain.marked(alert.status, language, v) if k in marked else v for k, v in alert.texts[language].items()}


def alert_preview(*, actor: User, alert_id: int) -> dict[str, Any]:
    """What launching would do: recipients per channel and language, estimated SMS units, the exact texts,
    the CAP document, and the number to type to confirm (the Hawaii 2018 false alarm lacked a preview)."""
    alert = _own(actor, alert_id)
    _check_draft(actor, {name: getattr(alert, name) for name in EDITABLE})
    recipients = _resolve(alert)
    return {
        "alert_id": alert.pk,
        "recipients": recipients.counts(),
        "total": recipients.total,
        "sms_units": _units(alert, recipients),
        "cost": _cost(alert, _units(alert, recipients)),
        "area_broadcasts": _checked_plan(alert),
        "texts": {language: _shown(alert, language) for language in sorted(alert.texts, key=domain.LANGUAGES.index)},
        "cap": cap.to_xml(_cap(alert)).decode(),
        "confirmation": _confirmation(alert, recipients),
        "map": _area_map(alert),
    }


def _area_map(alert: Alert) -> str:
    """The preview's map of the area (an SVG; empty when the alert targets no area)."""
    from tocsin.geo.domain import area_from_json
    from tocsin.geo.maps import area_svg
    from tocsin.geo.selectors import municipalities_touched

    areas = [area_from_json(a) for a in (alert.targets or {}).get("areas") or []]
    if not areas:
        return ""
    touched = sorted({nis for area in areas for nis in municipalities_touched(area)})
    return area_svg(areas, touched, title=f"{alert.event}: {len(touched)} municipalities")


def _cost(alert: Alert, units: int) -> dict[str, Any] | None:
    """What the SMS units would cost the entity (BA-8-POSTPAID): from its pre-paid balance first, the rest
    post-paid — shown, never a reason to hold the alert back. None for an entity that is not billed."""
    from tocsin.billing import domain as billing
    from tocsin.billing.services import cost_estimate

    if not billing.check_billed(Kind(alert.organisation.kind)):
        return None
    return cost_estimate(alert.organisation_id, units, exercise=alert.status != "Actual")


def _checked_plan(alert: Alert) -> list[dict[str, Any]]:
    if alert.msg_type == "Cancel":
        return []
    planned = broadcasts.plan(alert)
    broadcasts.check_plan(alert, planned)
    return planned


def _confirmation(alert: Alert, recipients: Recipients) -> str:
    """What the operator types to launch: the number of recipients; for an alert that reaches nobody by
    name (area broadcasts only), the event's name."""
    return str(recipients.total) if recipients.total else " ".join(alert.event.split())


def _cap(alert: Alert, *, sent: Any = None) -> cap.Alert:
    from tocsin.geo.domain import area_from_json

    areas = []
    for area_json in (alert.targets or {}).get("areas") or []:
        area = area_from_json(area_json)
        if area.kind in ("municipalities", "postcodes"):
            name = "NIS" if area.kind == "municipalities" else "postcode"
            areas.append(
                cap.Area(
                    ", ".join(area.codes),
                    geocodes=[(name, code) for code in area.codes],
                    polygons=_outlines(area),  # operators and partners need the geometry, not only the codes
                )
            )
        elif area.geometry is not None:
            polygons = getattr(area.geometry, "geoms", [area.geometry])
            rings = [[(round(y, 6), round(x, 6)) for x, y in p.exterior.coords] for p in polygons]
            areas.append(cap.Area("drawn area" if area.kind == "polygon" else "circle", polygons=rings))
    references = []
    if alert.references_id:
        original = alert.references
        assert original is not None
        references = [cap.Reference(_sender(), original.identifier, original.launched_at or original.created_at)]
    infos = [
        cap.Info(
            language={"nl": "nl-BE", "fr": "fr-BE", "de": "de-BE", "en": "en"}[language],
            categories=[alert.category],
            event=alert.event,
            response_types=list(alert.response_types),
            urgency=alert.urgency,
            severity=alert.severity,
            certainty=alert.certainty,
            onset=alert.onset,
            expires=alert.expires,
            sender_name=alert.organisation.name,
            headline=texts.get("headline", ""),
            description=texts.get("description", ""),
            instruction=texts.get("instruction", ""),
            web=alert.web,
            contact=alert.contact,
            areas=areas,
            # The text a mobile operator sends by location-based SMS (as recipients will read it).
            parameters=[("SMS_TEXT", domain.marked(alert.status, language, texts["sms"]))] if texts.get("sms") else [],
        )
        for language, texts in sorted(alert.texts.items(), key=lambda item: domain.LANGUAGES.index(item[0]))
    ]
    return cap.Alert(
        identifier=alert.identifier,
        sender=_sender(),
        sent=sent or alert.launched_at or timezone.now(),
        status=alert.status,
        msg_type=alert.msg_type,
        scope="Public",
        references=references,
        infos=infos,
    )


def _outlines(area: Any) -> list[list[tuple[float, float]]]:
    """The outlines of the municipalities an area of codes covers, simplified to ~100 m, as CAP rings."""
    from shapely.geometry import shape

    from tocsin.geo.models import Municipality
    from tocsin.geo.selectors import municipalities_touched

    rings = []
    for boundary in Municipality.objects.filter(nis_code__in=municipalities_touched(area)).exclude(boundary=None):
        outline = shape(boundary.boundary).simplify(0.001, preserve_topology=True)
        for polygon in getattr(outline, "geoms", [outline]):
            rings.append([(round(y, 5), round(x, 5)) for x, y in polygon.exterior.coords])
    return rings


def _sender() -> str:
    return str(getattr(settings, "TOCSIN_CAP_SENDER", "tocsin@alert.invalid"))


def alert_launch(*, actor: User, alert_id: int, confirmation: str) -> Alert:
    """Launch: every delivery of every channel into the outbox in one transaction, or nothing.

    The operator confirms by typing the number of recipients (phone numbers and e-mail addresses) the
    preview showed. A Cancel also withdraws
    what is still queued of the alert it cancels.
    """
    from tocsin.delivery.domain import Channel, Priority
    from tocsin.delivery.models import Delivery, SendRequest
    from tocsin.delivery.services import send_request_create

    _require_operator(actor)
    with transaction.atomic():
        alert = _own(actor, alert_id, for_update=True)
        domain.check_transition(State(alert.state), State.LAUNCHED)
        _check_draft(actor, {name: getattr(alert, name) for name in EDITABLE})
        if four_eyes(alert.organisation_id):
            domain.check_four_eyes(
                author_id=alert.updated_by_id or alert.created_by_id, approver_id=alert.approved_by_id
            )
        recipients = _resolve(alert)
        if alert.references_id:
            assert alert.references is not None
            _check_followable(Alert.objects.select_for_update().get(pk=alert.references_id))
        planned = broadcasts.plan(alert) if alert.msg_type != "Cancel" else []
        if alert.msg_type != "Cancel":
            broadcasts.check_plan(alert, planned)
        expected = _confirmation(alert, recipients)
        if " ".join((confirmation or "").split()).casefold() != expected.casefold():
            if recipients.total:
                template = gettext_noop("Type the number of recipients (%(expected)s) to launch.")
            else:
                template = gettext_noop("Type the event's name (%(expected)s) to launch.")
            raise RuleError(template, field="confirmation", params={"expected": expected})
        cancels_broadcasts = alert.msg_type == "Cancel" and bool(
            alert.references_id and alert.references and alert.references.broadcasts.exists()
        )
        if not recipients.total and not planned and not cancels_broadcasts:
            raise RuleError(gettext_noop("Nobody would receive this alert."), field="targets")
        now = timezone.now()
        expires = alert.expires or now + DEFAULT_TTL
        priority = Priority.EMERGENCY if alert.severity in ("Extreme", "Severe") else Priority.ALERT
        request_ids = []
        for channel, rows in recipients.by_channel.items():
            mark = alert.status
            if channel == "sms":
                content = {lang: {"text": domain.marked(mark, lang, t["sms"])} for lang, t in alert.texts.items()}
            elif channel == "email":
                content = {
                    lang: {
                        "subject": domain.marked(mark, lang, t.get("email_subject") or t["headline"]),
                        "text": domain.marked(mark, lang, _email_body(t)),
                        # A link of its own per recipient: "I have read this" / "I need help" (see ack views).
                        "link_label": ACK_LABELS[lang],
                        "link_path": "/ack/",
                    }
                    for lang, t in alert.texts.items()
                }
            elif channel == "voice":
                content = {lang: {"text": domain.marked(mark, lang, domain.voice_script(t))}
                           for lang, t in alert.texts.items()}  # fmt: skip
            else:
                continue
            request = send_request_create(
                organisation_id=alert.organisation_id, created_by_id=actor.pk, purpose=f"alert:{alert.pk}",
                priority=priority, content=content, recipients={Channel(channel): rows}, expires_at=expires,
            )  # fmt: skip
            request_ids.append(request.pk)
        alert.state = State.LAUNCHED.value
        alert.launched_at = now
        alert.launched_by = actor
        alert.send_request_ids = request_ids
        alert.cap_xml = cap.to_xml(_cap(alert, sent=now)).decode()
        alert.snapshot = {
            "recipients": recipients.counts(), "total": recipients.total, "sms_units": _units(alert, recipients),
            "texts": alert.texts, "targets": alert.targets, "channels": alert.channels,
            "area_broadcasts": planned,
        }  # fmt: skip
        alert.save()
        broadcasts.broadcasts_create(alert, planned)
        alert.snapshot["partners"] = broadcasts.pushes_create(alert)
        alert.save(update_fields=["snapshot"])
        if alert.msg_type == "Cancel" and alert.references_id:
            # The whole chain it follows (the alert and its updates): queued deliveries withdrawn, area
            # broadcasts taken off the air, every launched message of it cancelled.
            chain = list(Alert.objects.select_for_update().filter(pk__in=[a.pk for a in broadcasts.chain(alert)[1:]]))
            request_ids = [r for earlier in chain for r in earlier.send_request_ids]
            withdrawn = Delivery.objects.filter(request_id__in=request_ids, state="queued").update(
                state="expired", final_at=now, error="withdrawn: the alert was cancelled"
            )
            SendRequest.objects.filter(pk__in=request_ids).update(expires_at=now)
            for earlier in chain:
                if earlier.state == State.LAUNCHED.value:
                    domain.check_transition(State(earlier.state), State.CANCELLED)
                    earlier.state, earlier.cancelled_at = State.CANCELLED.value, now
                    earlier.save(update_fields=["state", "cancelled_at"])
            alert.snapshot["withdrawn"] = withdrawn
            alert.snapshot["broadcasts_withdrawn"] = broadcasts.broadcasts_withdraw(alert)
            alert.save(update_fields=["snapshot"])
        audit_record(action="alert.launched", actor=actor, organisation_id=alert.organisation_id,
                     object_type="alert", object_id=alert.pk,
                     data={"msg_type": alert.msg_type, "total": recipients.total})  # fmt: skip
    return alert


ACK_LABELS = {
    "nl": "Laat weten dat u dit bericht gelezen hebt, of dat u hulp nodig hebt:",
    "fr": "Confirmez que vous avez lu ce message, ou que vous avez besoin d'aide :",
    "de": "Bestätigen Sie, dass Sie diese Nachricht gelesen haben, oder dass Sie Hilfe brauchen:",
    "en": "Let us know you have read this message, or that you need help:",
}


def _email_body(texts: Mapping[str, str]) -> str:
    return texts.get("email_body") or "\n\n".join(x for x in (texts.get("description"), texts.get("instruction")) if x)


def newest_follow_up(alert: Alert) -> Alert | None:
    """The launched Update or Cancel that followed this alert, if any (the one to follow up now)."""
    return alert.follow_ups.exclude(state=State.DRAFT.value).order_by("-launched_at").first()


def _check_followable(original: Alert) -> None:
    """Only the newest launched message of an alert is updated or cancelled: an Update replaces the one
    before it, so following up an older one would fork the alert (and its CAP and cell-broadcast serials)."""
    if original.state != State.LAUNCHED.value:
        raise RuleError(gettext_noop("Only a launched alert can be updated or cancelled."), field="alert_id")
    newer = newest_follow_up(original)
    if newer is not None:
        raise RuleError(
            gettext_noop("This alert was followed up by %(identifier)s: follow up that one."),
            field="alert_id",
            params={"identifier": newer.identifier},
        )


def alert_follow_up(*, actor: User, alert_id: int, msg_type: str) -> Alert:
    """A draft Update or Cancel of a launched alert: the same audience and channels, CAP references to it."""
    if msg_type not in ("Update", "Cancel"):
        raise RuleError(gettext_noop("A follow-up is an Update or a Cancel."), field="msg_type")
    _require_operator(actor)
    original = _own(actor, alert_id)
    _check_followable(original)
    fields = {name: getattr(original, name) for name in EDITABLE}
    alert = alert_create(actor=actor, **fields)
    alert.msg_type, alert.references = msg_type, original
    alert.save(update_fields=["msg_type", "references"])
    return alert


CAP_LANGUAGES = {"nl": "nl", "fr": "fr", "de": "de", "en": "en"}


def alert_import_cap(*, actor: User, document: bytes) -> Alert:
    """A draft from a CAP 1.2 document (a weather service's warning, say), read safely (``protocols.cap``).

    Its texts per language, CAP values and areas (polygons, circles, NIS or postal geocodes) become the
    draft's; the draft is then checked like any other, and the operator previews and launches it.
    """
    try:
        incoming = cap.parse(document)
    except cap.CapError as exc:
        raise RuleError(gettext_noop("The CAP document is not valid: %(why)s"), field="document",
                        params={"why": str(exc)}) from None  # fmt: skip
    if incoming.msg_type != "Alert":
        raise RuleError(gettext_noop("Only a CAP Alert can be imported as a draft."), field="document")
    if not incoming.infos:
        raise RuleError(gettext_noop("The CAP document has no <info>."), field="document")
    texts: dict[str, dict[str, str]] = {}
    areas: list[dict[str, Any]] = []
    for info in incoming.infos:
        language = CAP_LANGUAGES.get(info.language.split("-")[0].lower())
        if language is None or language in texts:
            continue
        headline = info.headline or info.event
        sms = f"{headline}: {info.instruction}" if info.instruction else headline
        texts[language] = {
            "headline": headline[:200],
            "sms": sms[:600],
            "email_subject": headline[:200],
            "email_body": "\n\n".join(x for x in (info.description, info.instruction) if x) or headline,
            "instruction": info.instruction,
        }
    first = incoming.infos[0]
    for area in first.areas:
        for ring in area.polygons:
            geometry = {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]}
            areas.append({"type": "polygon", "geometry": geometry})
        for lat, lon, radius_km in area.circles:
            areas.append({"type": "circle", "center": [lon, lat], "radius_m": radius_km * 1000})
        nis = [value for name, value in area.geocodes if name.upper() in ("NIS", "REFNIS")]
        postcodes = [value for name, value in area.geocodes if name.lower() in ("postcode", "postal_code", "zip")]
        if nis:
            areas.append({"type": "municipalities", "nis_codes": nis})
        if postcodes:
            areas.append({"type": "postcodes", "postcodes": postcodes})
    return alert_create(
        actor=actor,
        status=incoming.status if incoming.status in ("Actual", "Exercise", "Test") else "Actual",
        category=first.categories[0],
        event=first.event[:200],
        urgency=first.urgency,
        severity=first.severity,
        certainty=first.certainty,
        response_types=[r for r in first.response_types if r in cap.RESPONSE],
        onset=first.onset,
        expires=first.expires,
        web=first.web[:200],
        texts=texts,
        channels=["sms", "email"],
        targets={"areas": areas},
    )


def four_eyes(organisation_id: int) -> bool:
    from tocsin.alerts.models import AlertPolicy

    return AlertPolicy.objects.filter(organisation_id=organisation_id, four_eyes=True).exists()


def alert_policy_set(*, actor: User, four_eyes: bool) -> None:
    """An entity administrator requires (or no longer requires) a second person's approval for every alert."""
    from tocsin.alerts.models import AlertPolicy

    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of the entity sets its alert rules."))
    with transaction.atomic():
        AlertPolicy.objects.update_or_create(
            organisation_id=actor.organisation_id,
            defaults={"four_eyes": four_eyes, "updated_at": timezone.now(), "updated_by": actor},
        )
        audit_record(
            action="alert.policy_set", actor=actor, organisation_id=actor.organisation_id,
            object_type="organisation", object_id=actor.organisation_id, data={"four_eyes": four_eyes},
        )  # fmt: skip


def alert_approve(*, actor: User, alert_id: int) -> Alert:
    """A second person of the entity approves this version of the draft (four eyes)."""
    _require_operator(actor)
    with transaction.atomic():
        alert = _own(actor, alert_id, for_update=True)
        if alert.state != State.DRAFT.value:
            raise RuleError(gettext_noop("Only a draft is approved."), field="state")
        domain.check_four_eyes(author_id=alert.updated_by_id or alert.created_by_id, approver_id=actor.pk)
        alert.approved_by, alert.approved_at = actor, timezone.now()
        alert.save(update_fields=["approved_by", "approved_at"])
        audit_record(action="alert.approved", actor=actor, organisation_id=alert.organisation_id,
                     object_type="alert", object_id=alert.pk)  # fmt: skip
    return alert


TEMPLATE_FIELDS = ("event", "category", "urgency", "severity", "certainty", "response_types", "texts", "channels")


def alert_template_save(*, actor: User, alert_id: int, name: str) -> Any:
    """Keep an alert's CAP values and texts (not its targets) as a template of the entity."""
    from tocsin.alerts.models import AlertTemplate

    _require_operator(actor)
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise RuleError(gettext_noop("Name the template (1 to 100 characters)."), field="name")
    alert = _own(actor, alert_id)
    fields = {key: getattr(alert, key) for key in TEMPLATE_FIELDS}
    template, _created = AlertTemplate.objects.update_or_create(
        organisation_id=actor.organisation_id, name=name, defaults={"fields": fields, "created_by": actor}
    )
    return template


def alert_templates(*, actor: User) -> dict[str, dict[str, Any]]:
    """The platform's templates and the entity's own (``own:<id>``), each as the fields of a new draft."""
    from tocsin.alerts.models import AlertTemplate
    from tocsin.alerts.templates_default import DEFAULT_TEMPLATES

    own = AlertTemplate.objects.filter(organisation_id=actor.organisation_id).order_by("name")
    return {**DEFAULT_TEMPLATES, **{f"own:{t.pk}": {**t.fields, "name": t.name} for t in own}}


# --- acknowledgements through the e-mail's link ---------------------------------------------------------


def _acked_delivery(token: str) -> tuple[Any, Alert] | None:
    from tocsin.delivery.domain import link_delivery
    from tocsin.delivery.models import Delivery

    delivery_id = link_delivery(settings.SECRET_KEY, token)
    delivery = Delivery.objects.select_related("request").filter(pk=delivery_id).first() if delivery_id else None
    if delivery is None or not delivery.request.purpose.startswith("alert:"):
        return None
    alert = Alert.objects.filter(pk=int(delivery.request.purpose.split(":", 1)[1])).first()
    return (delivery, alert) if alert is not None else None


def ack_page(token: str) -> dict[str, Any]:
    """What the link's page shows: the alert's headline in the recipient's language, and any answer given.
    Opening the link records nothing (mail scanners open links); the recipient presses a button."""
    from tocsin.alerts.models import AlertAck

    found = _acked_delivery(token)
    if found is None:
        raise NotFound(gettext_noop("This link is not valid."))
    delivery, alert = found
    texts = alert.texts.get(delivery.language) or next(iter(alert.texts.values()))
    answer = AlertAck.objects.filter(alert=alert, delivery_id=delivery.pk).values_list("kind", flat=True).first()
    return {"headline": texts.get("headline", ""), "instruction": texts.get("instruction", ""),
            "language": delivery.language, "answer": answer or "", "event": alert.event}  # fmt: skip


def alert_ack(*, token: str, kind: str) -> str:
    """Record a recipient's answer through the e-mail's link: ``ok`` or ``help``. The first answer counts;
    a call for help may follow an OK, never the reverse. Returns the answer now on record."""
    from tocsin.alerts.models import AlertAck

    if kind not in ("ok", "help"):
        raise RuleError(gettext_noop("Answer OK or help."), field="kind")
    found = _acked_delivery(token)
    if found is None:
        raise NotFound(gettext_noop("This link is not valid."))
    delivery, alert = found
    with transaction.atomic():
        ack, created = AlertAck.objects.select_for_update().get_or_create(
            alert=alert, delivery_id=delivery.pk, defaults={"kind": kind, "channel": delivery.channel}
        )
        if not created and ack.kind == "ok" and kind == "help":
            ack.kind, ack.at = "help", timezone.now()
            ack.save(update_fields=["kind", "at"])
    return ack.kind
