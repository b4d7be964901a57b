"""A cell broadcast centre on loopback speaking osmo-cbc's ECBE REST API (plain HTTP), for tests and demos.

Requests are checked as osmo-cbc checks them: its parser (``src/rest_api.c`` in
github.com/osmocom/osmo-cbc, read at f32fc48, February 2026) is the reference, not the
``cbc.schema.json`` / ``smscb.schema.json`` it ships — those are not valid JSON and disagree with the
parser (which wants ``serial_nr`` as ``{"serial_nr_decoded": {...}}`` or ``{"serial_nr_encoded": n}``
and ``payload`` as ``{"payload_decoded": {...}}`` and so on, makes ``character_set`` and
``repetition_period`` mandatory, and supports only ``scope_plmn``). ``SCHEMA`` below is our own
JSON Schema (draft 2020-12) of what the parser accepts, validated with ``jsonschema`` when it is
installed and otherwise with the small checker here (``schema_error``), which reads the same schema.

Where osmo-cbc would accept a request but do something the sender cannot have meant, this peer refuses
it (400) so that a client bug shows in the tests:
- unknown keys (osmo-cbc ignores them, so a misspelt ``num_of_bcast`` would broadcast without end);
- a non-string ``category`` or ``language`` (osmo-cbc ignores them too);
- ``msg_code`` 1024 (osmo-cbc's range check allows it, then masks it to 0);
- text that does not fit 15 pages of 82 octets (osmo-cbc silently truncates: at most 1405 GSM
  septets, extension characters counting two, or 615 UCS-2 code units), an empty text (zero pages),
  a character outside the GSM 7-bit alphabet with ``character_set`` gsm (sent as ``?``-like garbage),
  a character beyond the BMP with ucs2 (UCS-2 cannot carry it), and an 8bit payload that is not hex;
- a DELETE id that is not a decimal number (osmo-cbc's ``atoi`` reads ``abc`` as message 0).

``refuse_misencoded=True`` also refuses what osmo-cbc at f32fc48 mis-encodes even when valid: its GSM
encoder (libosmocore ``gsm_septet_encode``) works byte by byte on the UTF-8, so any non-ASCII
character (é, ä, €) is garbled; and its UCS-2 path (``charset_utf8_to_ucs2``) returns iconv's count of
irreversible conversions (0) instead of the octets written, so a ucs2 ``payload_decoded`` gets no pages.

Replies are osmo-cbc's plain-text ones: 201 ``Created``, 409 ``Could not allocate`` (the message id is
in use: osmo-cbc has no replace, so delete first), 200 ``OK``, 404 ``Unknown message ID``, 400 with the
parser's reason. Run alone: ``python -m tests.peers.cbc --port 12345`` (prints ``url=…``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.peers.threaded import ServedInThread
from tocsin.protocols import gsm

PREFIX = "/api/ecbe/v1"
PAGE_OCTETS = 82  # SMSCB_RAW_PAGE_LEN
MAX_PAGES = 15  # SMSCB_MAX_NUM_PAGES
MAX_BODY = 1024 * 1024
_DELETE = re.compile(re.escape(PREFIX) + r"/message/([^/]*)")

_UINT16 = {"type": "integer", "minimum": 0, "maximum": 65535}
# Hex strings of whole octets. "(?!\n)$" because "$" alone also matches before a final newline (Python's re).
_HEX_PAGE = {"type": "string", "pattern": "^(?:[0-9A-Fa-f]{2}){1,82}(?!\n)$"}


def _exactly_one_of(*keys: str) -> list[dict[str, Any]]:
    return [{"required": [key]} for key in keys]


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:tocsin:tests:osmo-cbc-ecbe-v1-message",
    "description": "POST /api/ecbe/v1/message as osmo-cbc's json2cbc_message() accepts it",
    "type": "object",
    "required": ["cbe_name", "repetition_period", "scope", "smscb_message"],
    "additionalProperties": False,
    "properties": {
        "cbe_name": {"type": "string"},
        "category": {"enum": ["normal", "high_priority", "background"]},
        "repetition_period": {"type": "integer", "minimum": 0, "maximum": 4095},  # units of 1.883 s
        "num_of_bcast": _UINT16,  # absent or 0: without end
        "warning_period_sec": _UINT16,  # absent: infinite
        "scope": {
            "type": "object",
            "required": ["scope_plmn"],  # osmo-cbc: "CBCMSG only 'scope_plmn' supported"
            "additionalProperties": False,
            "properties": {"scope_plmn": {"type": "object"}},
        },
        "smscb_message": {"$ref": "#/$defs/smscb_message"},
    },
    "$defs": {
        "smscb_message": {
            "type": "object",
            "required": ["serial_nr", "message_id", "payload"],
            "additionalProperties": False,
            "properties": {
                "serial_nr": {"$ref": "#/$defs/serial_nr"},
                "message_id": _UINT16,
                "payload": {"$ref": "#/$defs/payload"},
            },
        },
        "serial_nr": {
            "type": "object",
            "oneOf": _exactly_one_of("serial_nr_encoded", "serial_nr_decoded"),
            "additionalProperties": False,
            "properties": {
                "serial_nr_encoded": _UINT16,
                "serial_nr_decoded": {
                    "type": "object",
                    "required": ["geo_scope", "msg_code", "update_nr"],
                    "additionalProperties": False,
                    "properties": {
                        "geo_scope": {"enum": ["cell_wide_immediate", "plmn_wide", "lac_sac_tac_wide", "cell_wide"]},
                        "msg_code": {"type": "integer", "minimum": 0, "maximum": 1023},
                        "update_nr": {"type": "integer", "minimum": 0, "maximum": 15},
                    },
                },
            },
        },
        "payload": {
            "type": "object",
            "oneOf": _exactly_one_of("payload_encoded", "payload_decoded", "payload_etws"),
            "additionalProperties": False,
            "properties": {
                "payload_encoded": {
                    "type": "object",
                    "required": ["dcs", "pages"],
                    "additionalProperties": False,
                    "properties": {
                        "dcs": {"type": "integer", "minimum": 0, "maximum": 255},
                        "pages": {"type": "array", "minItems": 1, "maxItems": MAX_PAGES, "items": _HEX_PAGE},
                    },
                },
                "payload_decoded": {
                    "type": "object",
                    "required": ["character_set", "data_utf8"],
                    "additionalProperties": False,
                    "properties": {
                        "character_set": {"enum": ["gsm", "8bit", "ucs2"]},  # mandatory in osmo-cbc
                        "language": {"type": "string", "pattern": "^[A-Za-z]{2}(?!\n)$"},
                        "dcs_class": {"type": "integer", "minimum": 0, "maximum": 3},
                        "data_utf8": {"type": "string"},  # hex for 8bit
                    },
                },
                "payload_etws": {
                    "type": "object",
                    "required": ["warning_type"],
                    "additionalProperties": False,
                    "properties": {
                        "warning_type": {
                            "type": "object",
                            "oneOf": _exactly_one_of("warning_type_encoded", "warning_type_decoded"),
                            "additionalProperties": False,
                            "properties": {
                                "warning_type_encoded": {"type": "integer", "minimum": 0, "maximum": 255},
                                # "tsuname" is osmo-cbc's spelling: the only one it accepts.
                                "warning_type_decoded": {
                                    "enum": ["earthquake", "tsunami", "earthquake_and_tsuname", "test", "other"]
                                },
                            },
                        },
                        "emergency_user_alert": {"type": "boolean"},
                        "popup_on_display": {"type": "boolean"},
                        "warning_sec_info": {"type": "string", "pattern": "^(?:[0-9A-Fa-f]{2}){0,50}(?!\n)$"},
                    },
                },
            },
        },
    },
}


# --- validation --------------------------------------------------------------------------------


def _where(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "(body)"


def _is_integer(value: object) -> bool:
    # jansson's json_is_integer: 5.0 is a real, not an integer (draft 2020-12 would accept it), nor is true.
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
}


def _check(schema: dict[str, Any], value: Any, path: list[str | int]) -> str | None:
    """The first violation of the subset of JSON Schema that SCHEMA uses, or None."""
    if "$ref" in schema:
        return _check(SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")], value, path)
    if "type" in schema and not _TYPES[schema["type"]](value):
        return f"{_where(path)}: must be of type {schema['type']}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{_where(path)}: must be one of {', '.join(map(str, schema['enum']))}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"{_where(path)}: {value} is less than {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{_where(path)}: {value} is more than {schema['maximum']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{_where(path)}: {value[:40]!r} does not match {schema['pattern']}"
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return f"{_where(path)}: {len(value)} items, not {schema.get('minItems', 0)}..{schema.get('maxItems')}"
        for i, item in enumerate(value):
            if "items" in schema and (error := _check(schema["items"], item, [*path, i])):
                return error
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{_where(path)}: {key!r} is required"
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                if schema.get("additionalProperties") is False:
                    return f"{_where(path)}: unknown key {key!r}"
            elif error := _check(properties[key], item, [*path, key]):
                return error
        if "oneOf" in schema and sum(_check(s, value, path) is None for s in schema["oneOf"]) != 1:
            keys = [s["required"][0] for s in schema["oneOf"]]
            return f"{_where(path)}: exactly one of {', '.join(keys)} is required"
    return None


def schema_error(body: Any) -> str | None:
    """The hand-written checker's verdict on a request body: the first violation, or None."""
    return _check(SCHEMA, body, [])


def _optional_jsonschema() -> Any:
    try:
        return importlib.import_module("jsonschema")
    except ImportError:  # pragma: no cover - a dev dependency; the hand-written checker stands in
        return None


jsonschema: Any = _optional_jsonschema()

if jsonschema is not None:
    _Validator = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _c, v: _is_integer(v)),
    )
    _VALIDATOR = _Validator(SCHEMA)


def validate(body: Any) -> str | None:
    """The first schema violation in a request body (jsonschema's best match when installed), or None."""
    if jsonschema is None:
        return schema_error(body)
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(body))
    return None if error is None else f"{_where(list(error.absolute_path))}: {error.message}"


def _strings_ok(value: Any) -> bool:
    """jansson refuses what Python's json reads: NUL in a string, lone surrogates."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, list):
        return all(_strings_ok(v) for v in value)
    if isinstance(value, dict):
        return all(_strings_ok(k) and _strings_ok(v) for k, v in value.items())
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: jansson refuses them


def _pages(octets: int) -> int:
    return math.ceil(octets / PAGE_OCTETS)


# The GSM 03.38 default alphabet in code order (0x1B: escape), and its extension table — written out here
# again, apart from Tocsin's codec, so that the peer checks Tocsin's packing rather than mirroring it.
_GSM = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}


def decode_pages(dcs: int, pages: list[str]) -> str | None:
    """The text a handset shows for encoded pages: GSM 7-bit (coding group 0000: language in the DCS, or
    0x0F), or UCS-2 (0x48, general data coding); trailing CR padding dropped. None for other schemes."""
    text = []
    for page in pages:
        data = bytes.fromhex(page)
        if dcs <= 0x0F:
            bits = int.from_bytes(data, "little")
            septets = [(bits >> (7 * i)) & 0x7F for i in range(len(data) * 8 // 7)]
            chars, escape = [], False
            for septet in septets:
                if escape:
                    chars.append(_GSM_EXT.get(septet, " "))
                    escape = False
                elif septet == 0x1B:
                    escape = True
                else:
                    chars.append(_GSM[septet])
            text.append("".join(chars).rstrip("\r"))
        elif dcs == 0x48:
            text.append(data.decode("utf-16-be").rstrip("\r"))
        else:
            return None
    return "".join(text)


def payload_pages(payload: dict[str, Any], *, refuse_misencoded: bool = False) -> tuple[int, str | None]:
    """(pages, text) of a schema-valid payload; ValueError with the reason when it cannot be sent as meant."""
    if "payload_encoded" in payload:
        encoded = payload["payload_encoded"]
        return len(encoded["pages"]), decode_pages(encoded["dcs"], encoded["pages"])
    if "payload_etws" in payload:
        return 0, None  # ETWS primary notification: no pages
    decoded = payload["payload_decoded"]
    charset, text = decoded["character_set"], decoded["data_utf8"]
    limit = MAX_PAGES * PAGE_OCTETS
    if not text:
        raise ValueError("'data_utf8' is empty: the message would have no pages")
    if charset == "gsm":
        outside = next((ch for ch in text if not gsm.is_gsm7(ch)), None)
        if outside is not None:
            raise ValueError(f"character {outside!r} is not in the GSM 7-bit alphabet (character_set gsm)")
        if refuse_misencoded and not text.isascii():
            raise ValueError("osmo-cbc encodes GSM text byte by byte: non-ASCII characters would be garbled")
        septets = gsm.length(text, gsm.Coding.GSM7)
        octets = math.ceil(septets * 7 / 8)
        if octets > limit:
            raise ValueError(f"{septets} septets need {octets} octets: more than {MAX_PAGES} pages of {PAGE_OCTETS}")
    elif charset == "ucs2":
        if refuse_misencoded:
            raise ValueError("osmo-cbc gives a ucs2 payload_decoded no pages (charset_utf8_to_ucs2)")
        if any(ord(ch) > 0xFFFF for ch in text):
            raise ValueError("a character beyond U+FFFF cannot be sent in UCS-2")
        octets = 2 * len(text)
        if octets > limit:
            raise ValueError(f"{len(text)} UCS-2 characters need {octets} octets: more than {MAX_PAGES} pages")
    else:  # 8bit: the data is hex
        if not re.fullmatch("(?:[0-9A-Fa-f]{2})+", text):
            raise ValueError("'data_utf8' of an 8bit payload must be hex digits, whole octets")
        octets = len(text) // 2
        if octets > limit:
            raise ValueError(f"{octets} octets: more than {MAX_PAGES} pages of {PAGE_OCTETS}")
    return _pages(octets), text


# --- HTTP ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over MAX_BODY (then read and dropped).

        Read before any answer: closing a socket with unread bytes resets the connection, and the
        client may lose the answer. Without a Content-Length the body is empty (no chunked uploads).
        """
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit():
            self.close_connection = True
            return None
        remaining = int(length)
        if remaining <= MAX_BODY:
            return self.rfile.read(remaining)
        while remaining > 0 and (chunk := self.rfile.read(min(remaining, 65536))):
            remaining -= len(chunk)
        return None

    def do_POST(self) -> None:
        data = self._read_body()
        if self.path != PREFIX + "/message":
            self._text(404, "Not Found")
            return
        if data is None:
            self._text(413, "Payload Too Large")
            return
        # ulfius parses the body as JSON only when exactly one Content-Type contains application/json.
        content_types = self.headers.get_all("Content-Type") or []
        json_type = len(content_types) == 1 and "application/json" in content_types[0]
        status, text = self.server.peer._create(data if json_type else None)
        self._text(status, text)

    def do_DELETE(self) -> None:
        self._read_body()
        match = _DELETE.fullmatch(self.path)
        if not match:
            self._text(404, "Not Found")
            return
        status, text = self.server.peer._delete(match.group(1))
        self._text(status, text)

    def _not_implemented(self) -> None:
        self._read_body()
        self._text(501, "Not Implemented")

    do_GET = do_PUT = do_PATCH = do_OPTIONS = _not_implemented


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, peer: CellBroadcastCentre, port: int):
        self.peer = peer
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class CellBroadcastCentre(ServedInThread):
    """``with CellBroadcastCentre() as cbc:`` then POST messages to ``cbc.url + "/message"``."""

    def __init__(self, port: int = 0, *, refuse_misencoded: bool = False):
        self.port = port
        self.refuse_misencoded = refuse_misencoded
        # Records, guarded by the lock while requests run.
        self.messages: dict[int, dict[str, Any]] = {}  # active, by message_id
        self.created: list[dict[str, Any]] = []  # every accepted body, in order
        self.deleted: list[int] = []
        self.rejected: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def start(self) -> CellBroadcastCentre:
        return self._serve(_Server(self, self.port))

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The created bodies once there are at least n; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.created) >= n, timeout):
                raise TimeoutError(f"{len(self.created)} of {n} messages created after {timeout} s")
            return list(self.created)

    def check(self, data: bytes | None) -> tuple[dict[str, Any], int, str | None]:
        """(body, pages, text) of a request osmo-cbc would take; ValueError with its 400 reason otherwise."""
        if data is None:
            raise ValueError("REST: No JSON Body")
        try:
            body = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
        except ValueError:  # also UnicodeDecodeError, JSONDecodeError
            raise ValueError("REST: No JSON Body") from None
        if not _strings_ok(body):
            raise ValueError("REST: No JSON Body")
        error = validate(body)
        if error is not None:
            raise ValueError(error)
        pages, text = payload_pages(body["smscb_message"]["payload"], refuse_misencoded=self.refuse_misencoded)
        return body, pages, text

    def _create(self, data: bytes | None) -> tuple[int, str]:
        try:
            body, pages, text = self.check(data)
        except ValueError as exc:
            with self._lock:
                self.rejected.append((400, str(exc)))
            return 400, str(exc)
        message_id = body["smscb_message"]["message_id"]
        with self._changed:
            if message_id in self.messages:
                self.rejected.append((409, "Could not allocate"))
                return 409, "Could not allocate"
            decoded = body["smscb_message"]["payload"].get("payload_decoded", {})
            self.messages[message_id] = {
                "body": body,
                "pages": pages,
                "language": decoded.get("language"),
                "text": text,
                "created": time.time(),
            }
            self.created.append(body)
            self._changed.notify_all()
        return 201, "Created"

    def _delete(self, raw_id: str) -> tuple[int, str]:
        if not raw_id.isascii() or not raw_id.isdigit() or int(raw_id) > 65535:
            with self._lock:
                self.rejected.append((400, f"bad message id {raw_id[:20]!r}"))
            return 400, ""  # osmo-cbc answers this one with an empty body
        message_id = int(raw_id)
        with self._lock:
            if self.messages.pop(message_id, None) is None:
                return 404, "Unknown message ID"
            self.deleted.append(message_id)
        return 200, "OK"


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback cell broadcast centre (osmo-cbc's ECBE REST API).")
    parser.add_argument("--port", type=int, default=12345)  # osmo-cbc's default ECBE port
    parser.add_argument("--refuse-misencoded", action="store_true")
    args = parser.parse_args()
    with CellBroadcastCentre(args.port, refuse_misencoded=args.refuse_misencoded) as cbc:
        print(f"url={cbc.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
