"""Writes for citizens' registrations (BA-7.3 voluntary registration, BA-7.4 confidentiality).

Every contact point is verified with a one-time code sent through the
delivery engine before it receives anything. Sign-up and code requests are
protected against SMS-pumping fraud: a proof of work, rate limits per IP
address, per number and per number prefix, and numbers limited to the
countries the platform serves.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext

from tocsin.audit.services import audit_record
from tocsin.citizens import domain
from tocsin.citizens.domain import AddressLabel, PointKind, RegistrationStatus
from tocsin.citizens.models import CitizenAddress, ContactPoint, Erasure, OneTimeCode, Registration, Throttle
from tocsin.delivery.domain import Channel, Priority, RecipientError, normalise_email, normalise_phone
from tocsin.geo.models import Address
from tocsin.organisations.domain import Explained, Kind, RuleError, gettext_noop
from tocsin.organisations.models import Organisation

SIGN_IN_SALT = "tocsin.citizens.sign-in"
TOKEN_SALT = "tocsin.citizens.api"
TOKEN_TTL_S = 3600


class Throttled(Explained):
    """Too many attempts: the person is told when to try again (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int, params: dict[str, object] | None = None):
        super().__init__(message, params)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PointIn:
    kind: str
    value: str
    sms: bool = True
    voice: bool = False


@dataclass(frozen=True)
class AddressIn:
    label: str
    address_id: int


@dataclass
class SignUpResult:
    registration: Registration
    points: list[ContactPoint] = field(default_factory=list)


# --- settings -----------------------------------------------------------------------------


def pow_bits() -> int:
    return int(getattr(settings, "TOCSIN_POW_BITS", 16))


def _countries() -> set[str]:
    return set(getattr(settings, "TOCSIN_CITIZEN_COUNTRIES", ("BE",)))


# --- abuse protection -----------------------------------------------------------------------


def challenge_issue() -> dict[str, Any]:
    bits = pow_bits()
    token = domain.pow_challenge(
        settings.SECRET_KEY.encode(), now=int(time.time()), random=secrets.token_hex(8), bits=bits
    )
    return {"challenge": token, "bits": bits}


def _pow_redeem(challenge: str, nonce: str) -> None:
    why = domain.pow_check(settings.SECRET_KEY.encode(), challenge or "", nonce or "", now=int(time.time()))
    if why is not None:
        raise RuleError(
            gettext_noop("The anti-abuse check failed (%(why)s); reload the page and try again."),
            field="proof_of_work",
            params={"why": why},
        )
    # A solved challenge is good once: its seal goes into the throttle table with a unique key.
    seal = "pow:" + hashlib.sha256(challenge.encode()).hexdigest()[:32]
    try:
        with transaction.atomic():
            # Keyed by the time it was issued, so the unique (key, window) pair holds for this challenge.
            issued = datetime.fromtimestamp(int(challenge.split(".")[1]), tz=UTC)
            Throttle.objects.create(key=seal, window_start=issued, count=1)
    except IntegrityError:
        raise RuleError(
            gettext_noop("The anti-abuse check failed (%(why)s); reload the page and try again."),
            field="proof_of_work",
            params={"why": "used"},
        ) from None


def _network(ip: str | None) -> str:
    """IPv4 address, or the /64 of an IPv6 one (one household has a whole /64)."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def throttle_hit(key: str, *, limit: int, window_s: int) -> None:
    """Count one event for ``key`` in the current window; refuse beyond ``limit``.

    Runs in its own transaction, committed at once: refused attempts count too,
    whatever happens to the caller's transaction.
    """
    now = int(time.time())
    start = datetime.fromtimestamp(now - now % window_s, tz=UTC)
    with transaction.atomic(durable=False), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO citizens_throttle (key, window_start, count) VALUES (%s, %s, 1) "
            "ON CONFLICT (key, window_start) DO UPDATE SET count = citizens_throttle.count + 1 RETURNING count",
            [key, start],
        )
        count = int(cursor.fetchone()[0])
        if random.random() < 0.01:  # noqa: S311 — housekeeping, not security
            cursor.execute("DELETE FROM citizens_throttle WHERE window_start < now() - interval '2 days'")
    if count > limit:
        retry = window_s - now % window_s
        raise Throttled(
            gettext_noop("Too many attempts. Try again in %(minutes)s minutes."),
            retry_after=retry,
            params={"minutes": max(1, retry // 60)},
        )


LIMITS = {
    "sign_up_ip": (10, 3600),
    "sign_up_ip_48": (100, 3600),
    "sign_in_ip": (20, 3600),
    "sign_in_ip_48": (200, 3600),
    "code_point": (3, 3600),
    "code_point_day": (10, 86400),
    "code_prefix": (2000, 3600),
    "code_sms_all": (50_000, 3600),
    "lookup_ip": (120, 60),
    "lookup_ip_48": (1200, 60),
}


def _limit(kind: str, key: str) -> None:
    """Count one event; the key is stored as an HMAC, never as the number or address itself (GDPR)."""
    limit, window = LIMITS[kind]
    limit = int(getattr(settings, "TOCSIN_CITIZEN_LIMITS", {}).get(kind, limit))
    throttle_hit(f"{kind}:{_digest('throttle', key)[:32]}", limit=limit, window_s=window)


def _limit_ip(kind: str, ip: str | None) -> None:
    """Per address (IPv6: per /64), and for IPv6 also per /48: one customer holds 65,536 /64s."""
    _limit(kind, _network(ip))
    wide = _network48(ip)
    if wide:
        _limit(kind + "_48", wide)


def _network48(ip: str | None) -> str:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ""
    return str(ipaddress.ip_network(f"{address}/48", strict=False)) if address.version == 6 else ""


def _limit_codes(value: str, kind: str, purpose: str) -> None:
    """The limits on sending a code to ``value`` (SMS pumping): per number and purpose, per operator
    block (a circuit breaker, not a per-person limit), and a platform-wide hourly budget."""
    _limit("code_point", f"{purpose}:{value}")
    _limit("code_point_day", f"{purpose}:{value}")
    if kind != PointKind.EMAIL.value:
        _limit("code_prefix", domain.phone_prefix(value))
        _limit("code_sms_all", "platform")


def address_lookup_allowed(ip: str | None) -> None:
    _limit_ip("lookup_ip", ip)


# --- validation -----------------------------------------------------------------------------


def _point(raw: PointIn, index: int, *, deaf: bool) -> tuple[str, str, bool, bool]:
    where = f"contact_points[{index}]"
    try:
        kind = PointKind(raw.kind)
    except ValueError:
        raise RuleError(gettext_noop("Choose mobile, landline or e-mail."), field=f"{where}.kind") from None
    try:
        value = normalise_email(raw.value) if kind is PointKind.EMAIL else normalise_phone(raw.value)
    except RecipientError:
        message = (
            gettext_noop("This is not a valid e-mail address.")
            if kind is PointKind.EMAIL
            else gettext_noop("This is not a valid phone number.")
        )
        raise RuleError(message, field=f"{where}.value") from None
    if kind is not PointKind.EMAIL:
        import phonenumbers
        from phonenumbers import PhoneNumberType as T

        number = phonenumbers.parse(value)
        region = phonenumbers.region_code_for_number(number)
        found = phonenumbers.number_type(number)
        if kind is PointKind.MOBILE and found not in (T.MOBILE, T.FIXED_LINE_OR_MOBILE):
            raise RuleError(gettext_noop("This is not a mobile number."), field=f"{where}.value")
        if kind is PointKind.LANDLINE and found == T.MOBILE:
            raise RuleError(gettext_noop("This is a mobile number: choose mobile."), field=f"{where}.value")
        if kind is PointKind.LANDLINE and found not in (T.FIXED_LINE, T.FIXED_LINE_OR_MOBILE):
            # Premium-rate, shared-cost and other special numbers: never called (voice pumping).
            raise RuleError(gettext_noop("This is not a landline number."), field=f"{where}.value")
        if region not in _countries():
            raise RuleError(
                gettext_noop("Only numbers of %(countries)s can be registered."),
                field=f"{where}.value",
                params={"countries": ", ".join(sorted(_countries()))},
            )
    if kind is PointKind.MOBILE:
        sms, voice = bool(raw.sms), bool(raw.voice) and not deaf
        if not (sms or voice):
            raise RuleError(gettext_noop("Choose SMS, a voice call or both."), field=f"{where}.sms")
    elif kind is PointKind.LANDLINE:
        sms, voice = False, not deaf
        if deaf:
            raise RuleError(
                gettext_noop("A landline only receives voice calls; deaf or hard-of-hearing people get text instead."),
                field=f"{where}.kind",
            )
    else:
        sms, voice = False, False
    return kind.value, value, sms, voice


def _points(raw: Sequence[PointIn], *, deaf: bool) -> list[tuple[str, str, bool, bool]]:
    if not raw:
        raise RuleError(gettext_noop("Give at least one phone number or e-mail address."), field="contact_points")
    if len(raw) > domain.MAX_POINTS:
        raise RuleError(
            gettext_noop("At most %(max)s contact points."), field="contact_points", params={"max": domain.MAX_POINTS}
        )
    points = [_point(p, i, deaf=deaf) for i, p in enumerate(raw)]
    seen: set[tuple[str, str]] = set()
    for i, (kind, value, _, _) in enumerate(points):
        if (kind, value) in seen:
            raise RuleError(gettext_noop("This contact point is given twice."), field=f"contact_points[{i}].value")
        seen.add((kind, value))
    return points


def _addresses(raw: Sequence[AddressIn]) -> list[tuple[str, Address]]:
    if not raw:
        raise RuleError(gettext_noop("Give at least one address."), field="addresses")
    if len(raw) > domain.MAX_ADDRESSES:
        raise RuleError(
            gettext_noop("At most %(max)s addresses (BA-7.3)."),
            field="addresses",
            params={"max": domain.MAX_ADDRESSES},
        )
    found = Address.objects.in_bulk([a.address_id for a in raw])
    out = []
    for i, a in enumerate(raw):
        try:
            label = AddressLabel(a.label).value
        except ValueError:
            raise RuleError(
                gettext_noop("Choose home, work, school, family or other."), field=f"addresses[{i}].label"
            ) from None
        address = found.get(a.address_id)
        if address is None:
            raise RuleError(gettext_noop("This address is not in the address register."), field=f"addresses[{i}]")
        out.append((label, address))
    return out


def _address_rows(registration: Registration, chosen: list[tuple[str, Address]]) -> list[CitizenAddress]:
    return [
        CitizenAddress(
            registration=registration,
            label=label,
            address_id=a.pk,
            text=a.label(registration.language if registration.language in ("nl", "fr", "de") else "nl"),
            postcode=a.postcode,
            nis_code=a.municipality_id,
            lon=a.lon,
            lat=a.lat,
            cell=a.cell,
        )
        for label, a in chosen
    ]


# --- one-time codes -----------------------------------------------------------------------


def _digest(*parts: object) -> str:
    text = ":".join(str(p) for p in parts)
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def _crisis_centre_id() -> int:
    return int(Organisation.objects.filter(kind=Kind.CRISIS_CENTRE.value).values_list("pk", flat=True).get())


def _sign_in_url(link: str) -> str:
    return f"{settings.BASE_URL.rstrip('/')}/citizen/sign-in/link/{link}/"


def _code_message(purpose: str, code: str, link: str, language: str) -> dict[str, str]:
    with translation.override(language):
        minutes = domain.CODE_TTL_S // 60
        if purpose == "verify":
            text = gettext("Tocsin: your verification code is %(code)s. It is valid for %(minutes)s minutes.") % {
                "code": code,
                "minutes": minutes,
            }
            subject = gettext("Your Tocsin verification code")
        else:
            text = gettext("Tocsin: your sign-in code is %(code)s. It is valid for %(minutes)s minutes.") % {
                "code": code,
                "minutes": minutes,
            }
            subject = gettext("Your Tocsin sign-in code")
        body = text
        if purpose == "sign_in":
            body += "\n\n" + gettext("Or open this link to sign in: %(url)s") % {"url": _sign_in_url(link)}
        body += "\n\n" + gettext("If you did not ask for this, ignore this message.")
    return {"text": text, "subject": subject, "email_text": body}


def landline_calls() -> bool:
    """Whether a landline can get its code: a voice gateway (a SIP trunk) is configured and enabled."""
    from tocsin.delivery.models import Gateway

    return Gateway.objects.filter(channel="voice", enabled=True, organisation__isnull=True).exists()


def _spoken_code(purpose: str, code: str, language: str) -> str:
    """A code as a call says it: digit by digit, twice."""
    with translation.override(language):
        digits = ", ".join(code)
        if purpose == "verify":
            said = gettext("This is Tocsin. Your verification code is: %(digits)s. Again: %(digits)s.")
        else:
            said = gettext("This is Tocsin. Your sign-in code is: %(digits)s. Again: %(digits)s.")
        return said % {"digits": digits}


def _send_code(point: ContactPoint, *, purpose: str, language: str) -> OneTimeCode | None:
    """Create a code for ``point`` and queue it (highest priority): by SMS, e-mail, or for a landline by a
    voice call that says it (when there is no voice gateway, a landline cannot be checked yet: None)."""
    from tocsin.delivery.services import send_request_create

    landline = point.kind == PointKind.LANDLINE.value
    if landline and not landline_calls():
        return None
    code = f"{secrets.randbelow(1_000_000):06d}"
    link = secrets.token_urlsafe(24)
    otc = OneTimeCode.objects.create(
        purpose=purpose,
        registration_id=point.registration_id,
        contact_point=point,
        code_hash="",
        link_hash=_digest("link", link),
        expires_at=timezone.now() + timedelta(seconds=domain.CODE_TTL_S),
    )
    OneTimeCode.objects.filter(pk=otc.pk).update(code_hash=_digest("code", otc.pk, code))
    message = _code_message(purpose, code, link, language)
    channel = Channel.EMAIL if point.kind == PointKind.EMAIL.value else Channel.VOICE if landline else Channel.SMS
    if channel is Channel.EMAIL:
        content = {language: {"subject": message["subject"], "text": message["email_text"]}}
    elif channel is Channel.VOICE:  # no "press 1" after a code
        content = {language: {"text": _spoken_code(purpose, code, language), "confirm": "no"}}
    else:
        content = {language: {"text": message["text"]}}
    request = send_request_create(
        organisation_id=_crisis_centre_id(),
        created_by_id=None,
        purpose=f"citizen:{purpose}",
        priority=Priority.VERIFICATION,
        content=content,
        recipients={channel: [(point.value, language)]},
        expires_at=otc.expires_at,
    )
    OneTimeCode.objects.filter(pk=otc.pk).update(request_id=request.pk)
    otc.request_id = request.pk
    return otc


def _forget_code_texts(request_ids: list[int | None]) -> None:
    """Once a code is used (or its person erased), the message that carried it no longer holds it (nor the
    speech of a call that said it)."""
    from tocsin.delivery.models import SendRequest, Speech

    ids = [i for i in request_ids if i]
    if ids:
        Speech.objects.filter(request_id__in=ids).delete()
        SendRequest.objects.filter(pk__in=ids, purpose__startswith="citizen:").update(
            content={"-": {"text": "(one-time code, removed after use)"}}
        )


def codes_forget_expired() -> int:
    """Housekeeping (run by the worker's schedule or any sign-up): expired codes' texts are removed too."""
    from tocsin.delivery.models import SendRequest, Speech

    stale = OneTimeCode.objects.filter(expires_at__lt=timezone.now()).exclude(request_id=None)
    ids = [i for i in stale.values_list("request_id", flat=True)[:5000] if i is not None]
    Speech.objects.filter(request_id__in=ids).delete()
    OneTimeCode.objects.filter(request_id__in=ids, expires_at__lt=timezone.now()).update(request_id=None)
    return SendRequest.objects.filter(pk__in=ids, purpose__startswith="citizen:").update(
        content={"-": {"text": "(one-time code, removed after use)"}}
    )


def _check_code(otc: OneTimeCode, code: str) -> bool:
    """One attempt on ``otc``, counted in the database first (parallel guesses cannot share an attempt)."""
    counted = OneTimeCode.objects.filter(
        pk=otc.pk, used_at=None, expires_at__gt=timezone.now(), attempts__lt=domain.CODE_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        return False
    return hmac.compare_digest(otc.code_hash, _digest("code", otc.pk, str(code).strip()))


def _use(otc: OneTimeCode) -> bool:
    """Mark the code used; False when another request used it first."""
    used = OneTimeCode.objects.filter(pk=otc.pk, used_at=None).update(used_at=timezone.now())
    if used:
        _forget_code_texts([otc.request_id])
    return bool(used)


# --- sign-up ------------------------------------------------------------------------------


def registration_sign_up(
    *,
    name: str,
    language: str,
    contact_points: Sequence[PointIn],
    addresses: Sequence[AddressIn],
    consent: bool,
    consent_version: str,
    deaf: bool = False,
    opt_out_general: bool = False,
    opt_out_bin: bool = False,
    challenge: str,
    nonce: str,
    ip: str | None,
    referrer_nis: str = "",
) -> SignUpResult:
    """Register voluntarily (BA-7.3); every contact point then gets a verification code.

    Nothing is sent to a contact point before it is verified, and a
    registration with no verified point stays ``pending`` (it receives nothing).
    """
    name = domain.check_name(name)
    language = domain.check_language(language)
    if not consent:
        raise RuleError(gettext_noop("Registration needs your consent to the privacy notice."), field="consent")
    if consent_version != domain.CONSENT_VERSION:
        raise RuleError(
            gettext_noop("The privacy notice has changed; reload the page and read it again."), field="consent_version"
        )
    points = _points(contact_points, deaf=deaf)
    chosen = _addresses(addresses)
    _limit_ip("sign_up_ip", ip)
    _pow_redeem(challenge, nonce)
    for kind, value, _sms, _voice in points:
        if kind != PointKind.LANDLINE.value or landline_calls():
            _limit_codes(value, kind, "verify")  # committed now: refused attempts count too (calls as well)
    if random.random() < 0.01:  # noqa: S311 — housekeeping
        codes_forget_expired()
    with transaction.atomic():
        now = timezone.now()
        registration = Registration.objects.create(
            name=name,
            language=language,
            deaf=deaf,
            opt_out_general=opt_out_general,
            opt_out_bin=opt_out_bin,
            consent_version=consent_version,
            consent_at=now,
            referrer_nis=referrer_nis if referrer_nis.isdigit() and len(referrer_nis) == 5 else "",
        )
        created = ContactPoint.objects.bulk_create(
            [ContactPoint(registration=registration, kind=k, value=v, sms=s, voice=vo) for k, v, s, vo in points]
        )
        CitizenAddress.objects.bulk_create(_address_rows(registration, chosen))
        for point in created:
            _send_code(point, purpose="verify", language=language)
        audit_record(
            action="citizen.registered",
            object_type="registration",
            object_id=str(registration.public_id),
            data={"points": len(created), "addresses": len(chosen), "consent_version": consent_version},
        )
    return SignUpResult(registration, created)


def contact_point_verify(*, registration: Registration, point_id: int, code: str) -> ContactPoint:
    """Verify one contact point with the code it received; the first one makes the registration active."""
    point = ContactPoint.objects.filter(registration=registration, pk=point_id).first()
    if point is None or point.verified_at:
        # An already verified point answers like a wrong code: the verify route is no way to read a record.
        raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")
    otc = (
        OneTimeCode.objects.filter(contact_point=point, purpose="verify", used_at=None).order_by("-created_at").first()
    )
    if otc is None or not _check_code(otc, code):
        raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")
    with transaction.atomic():
        now = timezone.now()
        if not _use(otc):
            raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")
        point.verified_at = now
        point.save(update_fields=["verified_at"])
        Registration.objects.filter(pk=registration.pk, status=RegistrationStatus.PENDING.value).update(
            status=RegistrationStatus.ACTIVE.value, updated_at=now
        )
    registration.refresh_from_db()
    return point


def contact_point_resend(*, registration: Registration, point_id: int) -> None:
    point = ContactPoint.objects.filter(registration=registration, pk=point_id, verified_at=None).first()
    if point is None:
        raise RuleError(gettext_noop("Unknown contact point."), field="point_id")
    if point.kind != PointKind.LANDLINE.value or landline_calls():
        _limit_codes(point.value, point.kind, "verify")
    _send_code(point, purpose="verify", language=registration.language)


# --- sign-in ------------------------------------------------------------------------------


def sign_in_start(*, contact: str, challenge: str, nonce: str, ip: str | None) -> str:
    """Send a sign-in code (and link) to every verified contact point with this value.

    The answer never tells whether the value is registered: an opaque attempt
    token comes back either way, and the code is checked against it.
    """
    value = (contact or "").strip()
    if not value:
        raise RuleError(gettext_noop("Give your phone number or e-mail address."), field="contact")
    try:
        value = normalise_email(value) if "@" in value else normalise_phone(value)
    except RecipientError:
        raise RuleError(gettext_noop("This is not a phone number or e-mail address."), field="contact") from None
    _limit_ip("sign_in_ip", ip)
    _pow_redeem(challenge, nonce)
    # Counted for every value, registered or not: a 429 tells nothing about registration.
    _limit_codes(value, PointKind.EMAIL.value if "@" in value else PointKind.MOBILE.value, "sign_in")
    ids: list[int] = []
    with transaction.atomic():
        points = ContactPoint.objects.filter(value=value).exclude(verified_at=None).select_related("registration")
        for point in points[:3]:
            otc = _send_code(point, purpose="sign_in", language=point.registration.language)
            if otc is not None:
                ids.append(otc.pk)
    return signing.dumps({"ids": ids, "n": secrets.token_hex(4)}, salt=SIGN_IN_SALT, compress=True)


def sign_in_finish(*, attempt: str, code: str) -> Registration:
    try:
        data = signing.loads(attempt, salt=SIGN_IN_SALT, max_age=domain.CODE_TTL_S)
    except signing.BadSignature:
        raise RuleError(gettext_noop("The sign-in has expired; start again."), field="attempt") from None
    for otc in OneTimeCode.objects.filter(pk__in=data.get("ids", []), purpose="sign_in").select_related("registration"):
        if _check_code(otc, code) and _use(otc):
            return otc.registration
    raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")


def sign_in_link(*, link: str) -> Registration:
    otc = (
        OneTimeCode.objects.filter(link_hash=_digest("link", link), purpose="sign_in", used_at=None)
        .select_related("registration")
        .first()
    )
    if otc is None or otc.expires_at < timezone.now() or not _use(otc):
        raise RuleError(gettext_noop("The sign-in link has expired or was used already."), field="link")
    return otc.registration


def api_token_for(registration: Registration) -> str:
    return signing.dumps({"r": str(registration.public_id)}, salt=TOKEN_SALT)


def registration_from_token(token: str) -> Registration | None:
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_TTL_S)
    except signing.BadSignature:
        return None
    return Registration.objects.filter(public_id=data.get("r")).first()


# --- the citizen's own changes ----------------------------------------------------------------


def registration_update(
    *,
    registration: Registration,
    name: str | None = None,
    language: str | None = None,
    deaf: bool | None = None,
    opt_out_general: bool | None = None,
    opt_out_bin: bool | None = None,
    addresses: Sequence[AddressIn] | None = None,
) -> Registration:
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if name is not None:
            registration.name = domain.check_name(name)
        if language is not None:
            registration.language = domain.check_language(language)
        if opt_out_general is not None:
            registration.opt_out_general = opt_out_general
        if opt_out_bin is not None:
            registration.opt_out_bin = opt_out_bin
        if deaf is not None:
            registration.deaf = deaf
            if deaf:
                # Never called: voice goes off everywhere; a landline alone would leave nothing.
                ContactPoint.objects.filter(registration=registration).update(voice=False)
                if not ContactPoint.objects.filter(registration=registration).exclude(kind="landline").exists():
                    raise RuleError(
                        gettext_noop("Add a mobile number or e-mail address first: a landline only receives calls."),
                        field="deaf",
                    )
        if addresses is not None:
            chosen = _addresses(addresses)
            CitizenAddress.objects.filter(registration=registration).delete()
            CitizenAddress.objects.bulk_create(_address_rows(registration, chosen))
        registration.updated_at = timezone.now()
        registration.save()
    return registration


def registration_pause(*, registration: Registration) -> Registration:
    Registration.objects.filter(pk=registration.pk).exclude(status=RegistrationStatus.PENDING.value).update(
        status=RegistrationStatus.PAUSED.value, paused_at=timezone.now(), updated_at=timezone.now()
    )
    registration.refresh_from_db()
    return registration


def registration_resume(*, registration: Registration) -> Registration:
    Registration.objects.filter(pk=registration.pk, status=RegistrationStatus.PAUSED.value).update(
        status=RegistrationStatus.ACTIVE.value, paused_at=None, updated_at=timezone.now()
    )
    registration.refresh_from_db()
    return registration


def registration_erase(*, registration: Registration, ip: str | None = None) -> None:
    """Erase every personal datum at once (GDPR art. 17); keep an anonymous count per day and municipality.

    The codes sent to the person's numbers and addresses are anonymised in
    the delivery records too.
    """
    from tocsin.delivery.models import Delivery, InboundMessage

    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        values = list(ContactPoint.objects.filter(registration=registration).values_list("value", flat=True))
        _forget_code_texts(
            list(OneTimeCode.objects.filter(registration=registration).values_list("request_id", flat=True))
        )
        InboundMessage.objects.filter(sender__in=[v.lstrip("+") for v in values] + values).update(sender="(erased)")
        home = (
            CitizenAddress.objects.filter(registration=registration)
            .order_by("id")
            .values_list("nis_code", flat=True)
            .first()
        )
        Delivery.objects.filter(request__purpose__startswith="citizen:", recipient__in=values).update(
            recipient="(erased)"
        )
        public_id = str(registration.public_id)
        registration.delete()  # contact points, addresses, codes and memberships go with it
        erasure, _ = Erasure.objects.get_or_create(day=timezone.localdate(), nis_code=home or "")
        Erasure.objects.filter(pk=erasure.pk).update(count=F("count") + 1)
        audit_record(action="citizen.erased", object_type="registration", object_id=public_id)


def contact_point_add(*, registration: Registration, point: PointIn) -> ContactPoint:
    """Add a contact point to one's registration; it receives nothing until verified with its code."""
    existing = ContactPoint.objects.filter(registration=registration).count()
    if existing >= domain.MAX_POINTS:
        raise RuleError(
            gettext_noop("At most %(max)s contact points."), field="contact_points", params={"max": domain.MAX_POINTS}
        )
    kind, value, sms, voice = _point(point, existing, deaf=registration.deaf)
    if ContactPoint.objects.filter(registration=registration, kind=kind, value=value).exists():
        raise RuleError(gettext_noop("This contact point is given twice."), field=f"contact_points[{existing}].value")
    if kind != PointKind.LANDLINE.value or landline_calls():
        _limit_codes(value, kind, "verify")
    with transaction.atomic():
        created = ContactPoint.objects.create(registration=registration, kind=kind, value=value, sms=sms, voice=voice)
        _send_code(created, purpose="verify", language=registration.language)
    return created


def contact_point_remove(*, registration: Registration, point_id: int) -> None:
    """Remove a contact point; the last verified one stays (delete the registration instead)."""
    with transaction.atomic():
        Registration.objects.select_for_update().filter(pk=registration.pk).first()
        point = ContactPoint.objects.filter(registration=registration, pk=point_id).first()
        if point is None:
            raise RuleError(gettext_noop("Unknown contact point."), field="point_id")
        others = ContactPoint.objects.filter(registration=registration).exclude(pk=point.pk)
        if point.verified_at and not others.exclude(verified_at=None).exists():
            raise RuleError(
                gettext_noop("This is your last checked contact point: delete your registration instead."),
                field="point_id",
            )
        point.delete()
