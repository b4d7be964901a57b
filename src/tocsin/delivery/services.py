"""Writing to the outbox: a send request becomes one delivery row per recipient and channel.

Rows are written with COPY in the caller's transaction, so an alert counts as
launched only when every delivery is committed with it (invariant 1), and a
NOTIFY wakes the workers when that transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tocsin.delivery import domain
from tocsin.delivery.domain import Channel, Priority, RecipientError
from tocsin.delivery.models import Gateway, SendRequest
from tocsin.organisations.domain import RuleError, gettext_noop

NOTIFY_CHANNEL = "tocsin_outbox"  # payload: a send request id; wakes the workers
PROGRESS_CHANNEL = "tocsin_progress"  # payload: a send request id whose counts changed
MAX_LISTED_ERRORS = 20
ANALYZE_AFTER = 10_000  # recipients in one request from which the table's statistics are refreshed at once

_COPY_COLUMNS = (
    "request_id",
    "channel",
    "recipient",
    "language",
    "priority",
    "gateway_id",
    "state",
    "attempts",
    "next_attempt_at",
    "claimed_by",
    "gateway_message_id",
    "units",
    "error",
    "possible_duplicate",
    "queued_at",
)


def gateway_for(*, organisation_id: int, channel: Channel) -> Gateway:
    """The organisation's own enabled gateway for the channel, else the platform's."""
    gateway = (
        Gateway.objects.filter(channel=channel.value, enabled=True)
        .filter(Q(organisation_id=organisation_id) | Q(organisation__isnull=True))
        .order_by("organisation_id", "id")  # NULLs last in PostgreSQL: the organisation's own wins
        .first()
    )
    if gateway is None:
        raise RuleError(
            gettext_noop("No gateway is configured for %(channel)s."), field="channel", params={"channel": channel}
        )
    return gateway


def _checked(channel: Channel, recipients: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Normalised, de-duplicated (recipient, language) pairs; names every bad entry, writes nothing."""
    seen: dict[str, str] = {}
    errors: list[str] = []
    bad = 0
    for index, (raw, language) in enumerate(recipients):
        try:
            value = domain.normalise(channel, raw)
        except RecipientError as exc:
            bad += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append(f"#{index + 1}: {exc}")
            continue
        seen.setdefault(value, language)
    if bad:
        more = f" (and {bad - len(errors)} more)" if bad > len(errors) else ""
        raise RuleError(
            gettext_noop("%(count)s recipients are not valid for %(channel)s: %(list)s%(more)s"),
            field="recipients",
            params={"count": bad, "channel": channel.value, "list": "; ".join(errors), "more": more},
        )
    return list(seen.items())


_LANGUAGES = frozenset({"nl", "fr", "de", "en"})


def _language(value: str) -> str:
    return value if value in _LANGUAGES else "nl"


def send_request_create(
    *,
    organisation_id: int,
    created_by_id: int | None,
    purpose: str,
    priority: Priority,
    content: Mapping[str, Mapping[str, str]],
    recipients: Mapping[Channel, Sequence[tuple[str, str]]],
    expires_at: datetime | None = None,
) -> SendRequest:
    """Queue a message for many recipients; everything or nothing is written.

    ``recipients`` maps a channel to (address, language) pairs; ``content``
    maps a language to its texts (``text`` for SMS, ``subject``/``text``/``html``
    for e-mail). Bad addresses refuse the whole request, naming them.
    """
    if not content:
        raise RuleError(gettext_noop("The message has no text."), field="content")
    for texts in content.values():
        if any(ch in texts.get("subject", "") for ch in "\r\n"):
            raise RuleError(gettext_noop("The subject must be a single line."), field="subject")
        if any("\x00" in value for value in texts.values()):
            raise RuleError(gettext_noop("The message must not contain NUL characters."), field="content")
    checked = {channel: _checked(channel, entries) for channel, entries in recipients.items() if entries}
    if not checked:
        raise RuleError(gettext_noop("Choose at least one recipient."), field="recipients")
    gateways = {channel: gateway_for(organisation_id=organisation_id, channel=channel) for channel in checked}
    with transaction.atomic():
        request = SendRequest.objects.create(
            organisation_id=organisation_id,
            created_by_id=created_by_id,
            purpose=purpose,
            priority=int(priority),
            content=dict(content),
            gateways={c.value: g.pk for c, g in gateways.items()},
            recipient_count=sum(len(v) for v in checked.values()),
            expires_at=expires_at,
        )
        now = timezone.now().isoformat()
        with connection.cursor() as cursor:
            copy_sql = f"COPY delivery_delivery ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for channel, entries in checked.items():
                    # COPY text rows built by hand: 3x faster than write_row, and safe because
                    # normalised phone numbers and e-mail addresses hold no tab, newline or backslash.
                    head = f"{request.pk}\t{channel.value}\t"
                    tail = f"\t{int(priority)}\t{gateways[channel].pk}\tqueued\t0\t{now}\t\t\t0\t\tf\t{now}\n"
                    for start in range(0, len(entries), 50_000):
                        copy.write(
                            "".join(
                                f"{head}{recipient}\t{_language(language)}{tail}"
                                for recipient, language in entries[start : start + 50_000]
                            )
                        )
            if request.recipient_count >= ANALYZE_AFTER:
                # A mass send can multiply the table in one transaction; without fresh statistics the
                # workers' receipt and claim statements get plans made for an empty table (seen: one
                # receipt batch taking minutes at 1 M rows). ANALYZE counts this transaction's rows.
                cursor.execute("ANALYZE delivery_delivery")
            cursor.execute(
                "SELECT pg_notify(%s, %s), pg_notify(%s, %s)",
                [NOTIFY_CHANNEL, str(request.pk), PROGRESS_CHANNEL, str(request.pk)],
            )
    return request


# Uses the delivery_once unique index, which starts with request_id.
PROGRESS_SQL = "SELECT channel, state, count(*) FROM delivery_delivery WHERE request_id = %s GROUP BY 1, 2"


def progress(*, request_id: int) -> dict[str, dict[str, int]]:
    """Counts per channel and state for one send request."""
    with connection.cursor() as cursor:
        cursor.execute(PROGRESS_SQL, [request_id])
        rows = cursor.fetchall()
    return progress_counts(rows)


def progress_counts(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for channel, state, count in rows:
        out.setdefault(channel, {s.value: 0 for s in domain.State})[state] = count
    return out


def gateway_configure(**fields: Any) -> Gateway:
    """Create or update a gateway by name (CLI, YAML import, tests)."""
    name = fields.pop("name")
    gateway, _ = Gateway.objects.update_or_create(name=name, defaults=fields)
    return gateway


# What each kind of gateway needs, and which config keys are secrets (never printed nor audited).
_REQUIRED = {
    "smpp": ("host", "port", "system_id"),
    "kannel": ("url",),
    "smtp": ("host",),
    "sip": ("server",),  # a SIP trunk: voice calls
    "cap-https": ("url", "token"),  # a mobile operator's location-based SMS endpoint
    "ecbe": ("url", "cbe_name"),  # a cell broadcast centre (osmo-cbc's REST interface)
}
_CHANNEL_OF_KIND = {
    "smpp": Channel.SMS.value,
    "kannel": Channel.SMS.value,
    "smtp": Channel.EMAIL.value,
    "sip": Channel.VOICE.value,
    "cap-https": "lbsms",
    "ecbe": "cb",
}
SECRET_KEYS = frozenset({"password", "secret", "token"})


def config_shown(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config with its secrets masked: for listings and the audit log."""
    return {k: ("••••" if k in SECRET_KEYS and v else v) for k, v in config.items()}


def gateway_set(
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    rate_per_s: float = 100.0,
    concurrency: int = 1,
    organisation_id: int | None = None,
    enabled: bool = True,
    actor: Any = None,
) -> Gateway:
    """Create or change a gateway from the console, checked and audited (secrets masked in the audit)."""
    from tocsin.audit.services import audit_record

    if not name.strip():
        raise RuleError(gettext_noop("A gateway needs a name."), field="name")
    if kind not in _REQUIRED:
        raise RuleError(gettext_noop("Unknown gateway kind %(kind)s."), field="kind", params={"kind": repr(kind)})
    missing = [key for key in _REQUIRED[kind] if not config.get(key)]
    if missing:
        raise RuleError(
            gettext_noop("A %(kind)s gateway needs %(keys)s in its config."),
            field="config",
            params={"kind": kind, "keys": ", ".join(missing)},
        )
    if kind == "cap-https" and not str(config["url"]).startswith("https://"):
        raise RuleError(gettext_noop("An operator endpoint is reached over HTTPS only."), field="config.url")
    if kind == "ecbe" and not str(config["url"]).startswith(("http://", "https://")):
        raise RuleError(gettext_noop("The cell broadcast centre's URL starts with http:// or https://."),
                        field="config.url")  # fmt: skip
    if "port" in config and not str(config["port"]).isdigit():
        raise RuleError(gettext_noop("The port must be a number."), field="config")
    if not 0 < rate_per_s <= 100_000:
        raise RuleError(gettext_noop("The rate must be between 0 and 100,000 messages per second."), field="rate_per_s")
    if kind == "sip":
        from tocsin.delivery.channels.voice import ConfigError, parse_config

        try:
            parse_config(config)
        except ConfigError as exc:
            raise RuleError(
                gettext_noop("%(problem)s"), field=f"config.{exc.key}", params={"problem": str(exc)}
            ) from None
        if not 1 <= concurrency <= 1000:
            raise RuleError(gettext_noop("A SIP trunk takes between 1 and 1,000 simultaneous calls."),
                            field="concurrency")  # fmt: skip
    elif not 1 <= concurrency <= 64:
        raise RuleError(gettext_noop("Concurrency must be between 1 and 64 connections."), field="concurrency")
    with transaction.atomic():
        gateway = gateway_configure(
            name=name.strip(),
            kind=kind,
            channel=_CHANNEL_OF_KIND[kind],
            config=dict(config),
            rate_per_s=rate_per_s,
            concurrency=concurrency,
            organisation_id=organisation_id,
            enabled=enabled,
        )
        audit_record(
            action="gateway.configured",
            actor=actor,
            organisation_id=organisation_id,
            object_type="gateway",
            object_id=gateway.pk,
            data={"name": gateway.name, "kind": kind, "rate_per_s": rate_per_s, "concurrency": concurrency,
                  "enabled": enabled, "config": config_shown(config)},
        )  # fmt: skip
    return gateway
