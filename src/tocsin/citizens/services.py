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
    "sign_in_ip": (20, 3600),
    "code_point": (3, 3600),
    "code_point_day": (10, 86400),
    "code_prefix": (60, 3600),
    "lookup_ip": (120, 60),
}


def _limit(kind: str, key: str) -> None:
    limit, window = LIMITS[kind]
    limit = int(getattr(settings, "TOCSIN_CITIZEN_LIMITS", {}).get(kind, limit))
    throttle_hit(f"{kind}:{key}", limit=limit, window_s=window)


def address_lookup_allowed(ip: str | None) -> None:
    _limit("lookup_ip", _network(ip))


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


def _send_code(point: ContactPoint, *, purpose: str, language: str) -> OneTimeCode | None:
    """Create a code for ``point`` and queue it (highest priority). Landlines wait for the voice channel."""
    from tocsin.delivery.services import send_request_create

    if point.kind == PointKind.LANDLINE.value:
        return None  # verified by a voice call: the voice channel comes with issue 10
    _limit("code_point", point.value)
    _limit("code_point_day", point.value)
    if point.kind != PointKind.EMAIL.value:
        _limit("code_prefix", domain.phone_prefix(point.value))
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
    channel = Channel.EMAIL if point.kind == PointKind.EMAIL.value else Channel.SMS
    content = (
        {language: {"subject": message["subject"], "text": message["email_text"]}}
        if channel is Channel.EMAIL
        else {language: {"text": message["text"]}}
    )
    send_request_create(
        organisation_id=_crisis_centre_id(),
        created_by_id=None,
        purpose=f"citizen:{purpose}",
        priority=Priority.VERIFICATION,
        content=content,
        recipients={channel: [(point.value, language)]},
        expires_at=otc.expires_at,
    )
    return otc


def _check_code(otc: OneTimeCode, code: str) -> bool:
    """One attempt on ``otc`` (counted whatever the outcome)."""
    OneTimeCode.objects.filter(pk=otc.pk).update(attempts=otc.attempts + 1)
    if otc.used_at or otc.expires_at < timezone.now() or otc.attempts >= domain.CODE_ATTEMPTS:
        return False
    return hmac.compare_digest(otc.code_hash, _digest("code", otc.pk, str(code).strip()))


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
    _limit("sign_up_ip", _network(ip))
    _pow_redeem(challenge, nonce)
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
            ip=ip,
        )
    return SignUpResult(registration, created)


def contact_point_verify(*, registration: Registration, point_id: int, code: str) -> ContactPoint:
    """Verify one contact point with the code it received; the first one makes the registration active."""
    point = ContactPoint.objects.filter(registration=registration, pk=point_id).first()
    if point is None:
        raise RuleError(gettext_noop("Unknown contact point."), field="point_id")
    if point.verified_at:
        return point
    otc = (
        OneTimeCode.objects.filter(contact_point=point, purpose="verify", used_at=None).order_by("-created_at").first()
    )
    if otc is None or not _check_code(otc, code):
        raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")
    with transaction.atomic():
        now = timezone.now()
        OneTimeCode.objects.filter(pk=otc.pk).update(used_at=now)
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
    _limit("sign_in_ip", _network(ip))
    _pow_redeem(challenge, nonce)
    ids: list[int] = []
    with transaction.atomic():
        points = ContactPoint.objects.filter(value=value).exclude(verified_at=None).select_related("registration")
        for point in points[:5]:
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
        if _check_code(otc, code):
            OneTimeCode.objects.filter(pk=otc.pk).update(used_at=timezone.now())
            return otc.registration
    raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")


def sign_in_link(*, link: str) -> Registration:
    otc = (
        OneTimeCode.objects.filter(link_hash=_digest("link", link), purpose="sign_in", used_at=None)
        .select_related("registration")
        .first()
    )
    if otc is None or otc.expires_at < timezone.now():
        raise RuleError(gettext_noop("The sign-in link has expired or was used already."), field="link")
    OneTimeCode.objects.filter(pk=otc.pk).update(used_at=timezone.now())
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
    from tocsin.delivery.models import Delivery

    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        values = list(ContactPoint.objects.filter(registration=registration).values_list("value", flat=True))
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
        audit_record(action="citizen.erased", object_type="registration", object_id=public_id, ip=ip)
