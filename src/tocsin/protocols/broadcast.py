"""Clients of the two kinds of area-broadcast gateway (no Django).

- A mobile operator's location-based SMS endpoint: CAP 1.2 over HTTPS (docs/broadcast.md). We POST the
  alert's CAP document, the operator answers with its reference, and we read its counts (cells, handsets,
  SMS sent and delivered) with GET <url>/<reference>. A Cancel is a CAP Cancel referencing the alert.
- A cell broadcast centre speaking osmo-cbc's ECBE REST interface: ``POST <url>/message`` creates a
  message, ``DELETE <url>/message/<message_id>`` stops it. The body follows what osmo-cbc's parser
  (src/rest_api.c) accepts — its shipped JSON schema files are not valid JSON and wrap things differently.

Errors say whether trying again can help (``permanent``): a refused document will be refused again.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class BroadcastError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status  # the HTTP status, when there was an answer


def _verify(config: Mapping[str, Any]) -> ssl.SSLContext | bool:
    """The system's CAs, or the gateway's own CA file (an operator's private PKI, or a test's)."""
    if config.get("ca_file"):
        return ssl.create_default_context(cafile=str(config["ca_file"]))
    return True


def _client(config: Mapping[str, Any]) -> httpx.Client:
    return httpx.Client(verify=_verify(config), timeout=TIMEOUT, follow_redirects=False, trust_env=False)


def _fail(response: httpx.Response, what: str) -> BroadcastError:
    detail = response.text[:200].strip()
    # 408 and 429 (and every 5xx) are the gateway's momentary trouble; other 4xx refuse this very request.
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    return BroadcastError(f"{what}: HTTP {response.status_code} {detail}", permanent=permanent,
                          status=response.status_code)  # fmt: skip


def _call(config: Mapping[str, Any], method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        with _client(config) as client:
            return client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise BroadcastError(f"{what}: {type(exc).__name__}: {exc}") from None


# --- location-based SMS: CAP over HTTPS -------------------------------------------------------------


def _auth(config: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {config['token']}"}


def lbsms_submit(config: Mapping[str, Any], document: bytes) -> str:
    """Hand a CAP document (Alert, Update or Cancel) to the operator; its reference for the counts."""
    url = str(config["url"]).rstrip("/")
    headers = {**_auth(config), "Content-Type": "application/cap+xml"}
    response = _call(config, "POST", url, "operator", content=document, headers=headers)
    if response.status_code not in (200, 201, 202):
        raise _fail(response, "operator")
    try:
        reference = str(response.json()["reference"])
    except (ValueError, KeyError, TypeError):
        raise BroadcastError("operator: the answer has no reference", permanent=True) from None
    if not reference or len(reference) > 100 or "/" in reference:
        raise BroadcastError("operator: the reference is not usable", permanent=True)
    return reference


COUNT_KEYS = ("cells", "handsets", "sent", "delivered")
LBSMS_STATES = ("accepted", "broadcasting", "ended", "cancelled")


def lbsms_status(config: Mapping[str, Any], reference: str) -> tuple[str, dict[str, int]]:
    """The operator's state of a broadcast and its counts — counts only, never numbers."""
    url = f"{str(config['url']).rstrip('/')}/{reference}"
    response = _call(config, "GET", url, "operator", headers=_auth(config))
    if response.status_code != 200:
        raise _fail(response, "operator")
    try:
        data = response.json()
        state = str(data["state"])
        counts = {key: max(0, int(data.get(key) or 0)) for key in COUNT_KEYS}
    except (ValueError, KeyError, TypeError):
        raise BroadcastError("operator: the status is not readable") from None
    if state not in LBSMS_STATES:
        raise BroadcastError(f"operator: unknown state {state[:20]!r}")
    return state, counts


# --- cell broadcast: osmo-cbc ECBE -------------------------------------------------------------------


# Cell-broadcast data coding schemes (3GPP TS 23.038 § 5): the GSM 7-bit alphabet with the language in the
# DCS (coding group 0000), else UCS-2 without a language (general data coding, 0100 10xx).
CB_DCS_LANGUAGE = {"de": 0x00, "en": 0x01, "fr": 0x03, "nl": 0x05}
CB_DCS_GSM_UNSPECIFIED = 0x0F
CB_DCS_UCS2 = 0x48
CB_PAGE_OCTETS = 82
CB_PAGE_SEPTETS = 93
CR = 0x0D  # pads the last page


def cb_encode(text: str, language: str) -> tuple[int, list[str]]:
    """The DCS and the pages (82 octets each, as hex) of a cell-broadcast text, encoded here.

    osmo-cbc's own encoder (``payload_decoded``) reads UTF-8 byte by byte into GSM-7, garbling é, à, ä or €,
    and its UCS-2 path yields no pages; so Tocsin packs the pages itself and sends ``payload_encoded``.
    A page holds 93 septets or 41 UTF-16 units, an escape sequence or a surrogate pair is never split, and
    the last page is padded with carriage returns (TS 23.038 § 6.1.2.2)."""
    from tocsin.protocols import gsm

    pages: list[bytes] = []
    if gsm.is_gsm7(text):
        units = gsm.encode(text, gsm.Coding.GSM7)
        start = 0
        while start < len(units):
            end = min(start + CB_PAGE_SEPTETS, len(units))
            if end < len(units) and units[end - 1] == 0x1B:
                end -= 1  # keep the escape with its character
            chunk = units[start:end] + bytes([CR]) * (CB_PAGE_SEPTETS - (end - start))
            pages.append(gsm.pack_septets(chunk)[:CB_PAGE_OCTETS])
            start = end
        return CB_DCS_LANGUAGE.get(language, CB_DCS_GSM_UNSPECIFIED), [p.hex() for p in pages]
    data = text.encode("utf-16-be")
    start = 0
    while start < len(data):
        end = min(start + CB_PAGE_OCTETS, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # a high surrogate stays with its low one
        chunk = data[start:end]
        pages.append(chunk + b"\x00\x0d" * ((CB_PAGE_OCTETS - len(chunk)) // 2))
        start = end
    return CB_DCS_UCS2, [p.hex() for p in pages]


def cb_body(
    *,
    cbe_name: str,
    message_id: int,
    msg_code: int,
    update_nr: int,
    text: str,
    language: str,
    repetition_period: int,
    num_of_bcast: int,
    high_priority: bool,
) -> dict[str, Any]:
    """A CBS message for the whole network of the CBC (``scope_plmn``: the only scope osmo-cbc takes)."""
    dcs, pages = cb_encode(text, language)
    return {
        "cbe_name": cbe_name,
        "category": "high_priority" if high_priority else "normal",
        "repetition_period": repetition_period,
        "num_of_bcast": num_of_bcast,
        "scope": {"scope_plmn": {}},
        "smscb_message": {
            "message_id": message_id,
            "serial_nr": {
                "serial_nr_decoded": {
                    "geo_scope": "plmn_wide",
                    "msg_code": msg_code % 1024,
                    "update_nr": update_nr % 16,
                }
            },
            "payload": {"payload_encoded": {"dcs": dcs, "pages": pages}},
        },
    }


def cb_create(config: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    url = f"{str(config['url']).rstrip('/')}/message"
    response = _call(config, "POST", url, "CBC", json=body)
    if response.status_code == 409:
        message_id = body["smscb_message"]["message_id"]
        raise BroadcastError(
            f"CBC: message identifier {message_id} is already being broadcast (another alert); cancel that one first",
            permanent=True,
            status=409,
        )
    if response.status_code not in (200, 201):
        raise _fail(response, "CBC")


def cb_delete(config: Mapping[str, Any], message_id: int) -> bool:
    """Stop a message; False when the CBC no longer had it (ended, or deleted before)."""
    url = f"{str(config['url']).rstrip('/')}/message/{int(message_id)}"
    response = _call(config, "DELETE", url, "CBC")
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise _fail(response, "CBC")
    return True
