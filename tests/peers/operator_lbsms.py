"""A mobile operator's location-based SMS endpoint on loopback, speaking "CAP over HTTPS" (our own profile).

The sender POSTs one OASIS CAP 1.2 document per request to ``/cap`` with a bearer token. The operator
checks it as a careful operator would — UTF-8, no DOCTYPE, valid against the OASIS schema, scope
Public, a polygon or circle and an ``SMS_TEXT`` parameter in every info of an Alert or Update, and
references that name a document it accepted before — and answers 202 with its own reference. The
sender then polls ``GET /cap/<reference>`` for counts (cells, handsets, sent, delivered): an operator
reveals how many handsets it reached, never which numbers.

The broadcast is simulated: handsets from the area of the first info's polygons and circles, sent
growing linearly to all of them over ``duration_s``, 95 % of those delivered. HTTPS uses a
certificate for 127.0.0.1 from a throw-away trustme CA: a client trusts ``ca_pem`` and nothing else.
Run alone: ``python -m tests.peers.operator_lbsms --port 9443`` (prints the URL, the CA file, the token).
"""

from __future__ import annotations

import argparse
import functools
import hmac
import importlib.resources
import itertools
import json
import math
import re
import ssl
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
import xmlschema

from tests.peers.threaded import ServedInThread

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BODY = 1024 * 1024
MAX_SMS_TEXT = 1000
DELIVERED_SHARE = 0.95
HANDSETS_PER_CELL = 500
BROADCASTING_AFTER_S = 0.1  # "accepted" turns "broadcasting" after this, or after the first poll
_REFERENCE = re.compile(r"/cap/([A-Za-z0-9._-]{1,64})")


class Refused(Exception):
    """A request the operator answers with an error: the HTTP status and a reason for the sender."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@functools.cache
def cap_schema() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema shipped with tocsin, built once per process (building it takes a while)."""
    xsd = importlib.resources.files("tocsin.protocols") / "schemas" / "CAP-v1.2.xsd"
    return xmlschema.XMLSchema(str(xsd))


# --- reading a CAP document ------------------------------------------------------------------


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _text(element: ET.Element, tag: str) -> str:
    found = element.find(_q(tag))
    return (found.text or "").strip() if found is not None else ""


def _time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(400, f"{where}: not a CAP time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise Refused(400, f"{where}: a CAP time needs a time zone")
    return value


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Refused(400, f"{where}: not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise Refused(400, f"{where}: not a finite number")
    return value


def _point(text: str, where: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise Refused(400, f"{where}: a point is 'lat,lon': {text[:40]!r}")
    lat, lon = _number(parts[0], where), _number(parts[1], where)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Refused(400, f"{where}: coordinates out of range (latitude first): {text[:40]!r}")
    return lat, lon


def polygon_km2(ring: list[tuple[float, float]]) -> float:
    """Shoelace area of a (lat, lon) ring on a local flat projection: good to ~1 % for a region."""
    lat0 = math.radians(sum(lat for lat, _ in ring) / len(ring))
    xy = [(lon * 111.32 * math.cos(lat0), lat * 110.57) for lat, lon in ring]
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(xy))
    return abs(twice) / 2


def _area_km2(area: ET.Element, where: str) -> tuple[bool, float]:
    """Whether the <area> has geometry (a polygon or circle), and its surface in km²."""
    km2, shapes = 0.0, 0
    for k, polygon in enumerate(area.findall(_q("polygon"))):
        at = f"{where}.polygon[{k}]"
        ring = [_point(pair, at) for pair in (polygon.text or "").split()]
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise Refused(400, f"{at}: a polygon needs at least 4 points, the first repeated at the end")
        km2 += polygon_km2(ring)
        shapes += 1
    for k, circle in enumerate(area.findall(_q("circle"))):
        at = f"{where}.circle[{k}]"
        parts = (circle.text or "").split()
        if len(parts) != 2:
            raise Refused(400, f"{at}: a circle is 'lat,lon radius_km': {(circle.text or '')[:40]!r}")
        _point(parts[0], at)
        radius = _number(parts[1], at)
        if radius < 0:
            raise Refused(400, f"{at}: the radius must be zero or more")
        km2 += math.pi * radius**2
        shapes += 1
    return shapes > 0, km2


def read_cap(data: bytes) -> ET.Element:
    """The root of a CAP 1.2 alert that passed the OASIS schema; Refused (400) otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the document is not UTF-8") from None
    # Refused before any parser sees it: no entity expansion, no external references.
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise Refused(400, "a DOCTYPE or entity declaration is not allowed")
    try:
        resource = xmlschema.XMLResource(data, allow="none", defuse="always")
    except (ET.ParseError, xmlschema.XMLResourceError) as exc:
        raise Refused(400, f"not well-formed XML: {str(exc)[:200]}") from None
    if resource.root.tag != _q("alert"):
        raise Refused(400, f"not a CAP 1.2 alert (root element {str(resource.root.tag)[:80]!r})")
    error = next(iter(cap_schema().iter_errors(resource)), None)
    if error is not None:
        raise Refused(400, f"not valid CAP 1.2 at {error.path}: {str(error.reason)[:300]}")
    return resource.root


@dataclass(frozen=True)
class Checked:
    """What the operator reads from a valid document."""

    sender: str
    identifier: str
    sent: datetime
    status: str
    msg_type: str
    references: list[tuple[str, str, datetime]]
    languages: list[str]
    sms_texts: list[str]
    area_km2: float  # of the first info


def check_cap(root: ET.Element) -> Checked:
    """The operator's own rules on top of the schema; Refused (400) names the first one broken."""
    scope = _text(root, "scope")
    if scope != "Public":
        raise Refused(400, f"scope must be Public, not {scope}")
    msg_type = _text(root, "msgType")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise Refused(400, f"msgType {msg_type} is not accepted: only Alert, Update and Cancel")
    infos = root.findall(_q("info"))
    sms_texts: list[str] = []
    first_km2 = 0.0
    if msg_type != "Cancel":
        if not infos:
            raise Refused(400, f"an {msg_type} needs at least one <info>")
        for i, info in enumerate(infos):
            located, total = False, 0.0
            for j, area in enumerate(info.findall(_q("area"))):
                has_shape, km2 = _area_km2(area, f"info[{i}].area[{j}]")
                located, total = located or has_shape, total + km2
            if not located:
                raise Refused(400, f"info[{i}]: needs an <area> with a <polygon> or <circle> (geocodes are not enough)")
            if i == 0:
                first_km2 = total
            texts = [_text(p, "value") for p in info.findall(_q("parameter")) if _text(p, "valueName") == "SMS_TEXT"]
            if len(texts) != 1 or not texts[0]:
                raise Refused(400, f"info[{i}]: needs exactly one <parameter> SMS_TEXT with a non-empty <value>")
            if len(texts[0]) > MAX_SMS_TEXT:
                raise Refused(400, f"info[{i}]: SMS_TEXT has {len(texts[0])} characters, more than {MAX_SMS_TEXT}")
            sms_texts.append(texts[0])
    references = []
    for k, item in enumerate(_text(root, "references").split()):
        parts = item.split(",")
        if len(parts) != 3:
            raise Refused(400, f"references[{k}]: each reference is sender,identifier,sent")
        references.append((parts[0], parts[1], _time(parts[2], f"references[{k}]")))
    if msg_type != "Alert" and not references:
        raise Refused(400, f"an {msg_type} needs <references> to the alert it concerns")
    return Checked(
        sender=_text(root, "sender"),
        identifier=_text(root, "identifier"),
        sent=_time(_text(root, "sent"), "sent"),
        status=_text(root, "status"),
        msg_type=msg_type,
        references=references,
        languages=[_text(info, "language") or "en-US" for info in infos],
        sms_texts=sms_texts,
        area_km2=first_km2,
    )


# --- the simulated broadcast -----------------------------------------------------------------


@dataclass
class Broadcast:
    reference: str
    identifier: str
    sender: str
    sent: datetime
    msg_type: str
    xml: str
    handsets: int
    accepted_at: float  # time.monotonic()
    polled: bool = False
    stopped_at: float | None = None  # replaced or cancelled: sending stops there
    cancelled: bool = False

    def snapshot(self, now: float, duration_s: float) -> dict[str, Any]:
        elapsed = now - self.accepted_at
        if self.cancelled:
            state = "cancelled"
        elif self.stopped_at is not None or elapsed >= duration_s:
            state = "ended"
        elif self.polled or elapsed >= BROADCASTING_AFTER_S:
            state = "broadcasting"
        else:
            state = "accepted"
        sent = 0
        if state != "accepted":
            until = min(now, self.stopped_at) if self.stopped_at is not None else now
            progress = 1.0 if duration_s <= 0 else min(1.0, max(0.0, until - self.accepted_at) / duration_s)
            sent = int(self.handsets * progress)
        is_broadcast = self.msg_type != "Cancel"
        return {
            "reference": self.reference,
            "identifier": self.identifier,
            "state": state,
            "cells": max(1, self.handsets // HANDSETS_PER_CELL) if is_broadcast else 0,
            "handsets": self.handsets,
            "sent": sent,
            "delivered": int(sent * DELIVERED_SHARE),
        }


# --- HTTP --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _TlsServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint; every answer has a Content-Length
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests; the records say what happened

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="cap"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _authorise(self) -> None:
        expected = f"Bearer {self.server.peer.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise Refused(401, "unauthorised")

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over MAX_BODY (then read and dropped).

        Read before any answer, even a refusal: closing a socket with unread bytes resets the
        connection, and the client may lose the answer.
        """
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True  # the body's end is unknown: the connection cannot go on
            raise Refused(411, "a Content-Length is required")
        remaining = int(length)
        if remaining <= MAX_BODY:
            return self.rfile.read(remaining)
        while remaining > 0 and (chunk := self.rfile.read(min(remaining, 65536))):
            remaining -= len(chunk)
        return None

    def do_POST(self) -> None:
        peer = self.server.peer
        if self.path == "/cap":
            peer._count_request()
        try:
            data = self._read_body()
            if self.path != "/cap":
                raise Refused(404, "not found")
            if peer.fail_with is not None:
                raise Refused(peer.fail_with, "simulated failure")
            self._authorise()
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != "application/cap+xml":
                raise Refused(415, f"Content-Type must be application/cap+xml, not {content_type or 'absent'}")
            if data is None:
                raise Refused(413, f"the document is larger than {MAX_BODY // 1024} KiB")
            reference = peer._accept(data)
        except Refused as refused:
            if self.path == "/cap":
                peer._reject(refused.status, refused.reason)
            self._json(refused.status, {"error": refused.reason})
            return
        self._json(202, {"reference": reference})

    def do_GET(self) -> None:
        match = _REFERENCE.fullmatch(self.path)
        try:
            if not match:
                raise Refused(404, "not found")
            self._authorise()
            status = self.server.peer.status(match.group(1))
            if status is None:
                raise Refused(404, "unknown reference")
        except Refused as refused:
            self._json(refused.status, {"error": refused.reason})
            return
        self._json(200, status)

    def _not_allowed(self) -> None:
        try:
            self._read_body()
        except Refused as refused:
            self._json(refused.status, {"error": refused.reason})
            return
        self._json(405, {"error": "method not allowed"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, peer: OperatorEndpoint, port: int, context: ssl.SSLContext):
        self.peer = peer
        self.context = context
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread: a slow or stuck client cannot
        # hold up the accept loop, as it would if the listening socket were wrapped.
        request.settimeout(_Handler.timeout)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust our CA, or went away
        try:
            _Handler(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection reset mid-request is the client's business


class OperatorEndpoint(ServedInThread):
    """``with OperatorEndpoint() as operator:`` then POST CAP to ``operator.url``, trusting ``operator.ca_pem``.

    ``fail_with`` is read on every POST: set it to e.g. 503 and back to None to test a client's retries.
    """

    def __init__(
        self,
        token: str = "op-secret",
        handsets_per_km2: float = 300.0,
        duration_s: float = 1.0,
        fail_with: int | None = None,
        port: int = 0,
    ):
        self.token = token
        self.handsets_per_km2 = handsets_per_km2
        self.duration_s = duration_s
        self.fail_with = fail_with
        self.port = port
        self._ca = trustme.CA()
        self.ca_pem: bytes = self._ca.cert_pem.bytes()
        self._server_cert = self._ca.issue_cert("127.0.0.1")
        # Records (read them after wait_for, or under no expectation of consistency while requests run).
        self.accepted: list[dict[str, Any]] = []
        self.rejected: list[tuple[int, str]] = []
        self.requests = 0  # POST /cap requests received, whatever became of them
        self.duplicates = 0  # the same document posted again (a retry), answered with its first reference
        self._broadcasts: dict[str, Broadcast] = {}  # by reference
        self._by_identity: dict[tuple[str, str], Broadcast] = {}  # by (sender, identifier)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/cap"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this endpoint's CA only."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def start(self) -> OperatorEndpoint:
        cap_schema()  # built before the first request, not during it
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_cert.configure_cert(context)
        return self._serve(_TlsServer(self, self.port, context))

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The accepted documents once there are at least n; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.accepted) >= n, timeout):
                raise TimeoutError(f"{len(self.accepted)} of {n} documents accepted after {timeout} s")
            return list(self.accepted)

    def status(self, reference: str) -> dict[str, Any] | None:
        """What GET /cap/<reference> answers (None: unknown); a poll moves "accepted" on to "broadcasting"."""
        with self._lock:
            broadcast = self._broadcasts.get(reference)
            if broadcast is None:
                return None
            snapshot = broadcast.snapshot(time.monotonic(), self.duration_s)
            broadcast.polled = True
            return snapshot

    # --- called by the handler threads ---

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _reject(self, status: int, reason: str) -> None:
        with self._lock:
            self.rejected.append((status, reason))

    def _accept(self, data: bytes) -> str:
        """Check a document and start its broadcast; the operator's reference, or Refused."""
        checked = check_cap(read_cap(data))
        xml = data.decode("utf-8")
        with self._changed:
            now = time.monotonic()
            earlier = self._by_identity.get((checked.sender, checked.identifier))
            if earlier is not None:
                if earlier.xml == xml:
                    self.duplicates += 1
                    return earlier.reference
                raise Refused(409, f"identifier {checked.identifier} was already used for another document")
            # A reference names an earlier Alert or Update by sender, identifier and the same instant sent.
            targets = []
            for sender, identifier, sent in checked.references:
                target = self._by_identity.get((sender, identifier))
                if target is not None and target.sent == sent and target.msg_type != "Cancel":
                    targets.append(target)
            if checked.msg_type == "Update":
                targets = [t for t in targets if not t.cancelled]
                if not targets:
                    raise Refused(400, "the Update's references name no accepted alert that is still live")
                for target in targets:
                    if target.stopped_at is None:
                        target.stopped_at = now  # replaced: it ends here
            elif checked.msg_type == "Cancel":
                if not targets:
                    raise Refused(400, "the Cancel's references name no accepted alert")
                for target in targets:
                    target.cancelled = True
                    target.stopped_at = now if target.stopped_at is None else target.stopped_at
            reference = f"op-{next(self._numbers)}"
            handsets = round(checked.area_km2 * self.handsets_per_km2) if checked.msg_type != "Cancel" else 0
            broadcast = Broadcast(
                reference=reference,
                identifier=checked.identifier,
                sender=checked.sender,
                sent=checked.sent,
                msg_type=checked.msg_type,
                xml=xml,
                handsets=handsets,
                accepted_at=now,
                stopped_at=now if checked.msg_type == "Cancel" else None,
            )
            self._broadcasts[reference] = broadcast
            self._by_identity[(checked.sender, checked.identifier)] = broadcast
            self.accepted.append(
                {
                    "reference": reference,
                    "identifier": checked.identifier,
                    "sender": checked.sender,
                    "status": checked.status,
                    "msg_type": checked.msg_type,
                    "references": [f"{s},{i},{t.isoformat()}" for s, i, t in checked.references],
                    "targets": [t.reference for t in targets],
                    "xml": xml,
                    "languages": checked.languages,
                    "sms_texts": checked.sms_texts,
                    "handsets": handsets,
                }
            )
            self._changed.notify_all()
            return reference


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback operator endpoint for CAP over HTTPS.")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--token", default="op-secret")
    parser.add_argument("--handsets-per-km2", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds a broadcast lasts")
    args = parser.parse_args()
    endpoint = OperatorEndpoint(args.token, args.handsets_per_km2, args.duration, port=args.port)
    ca_file = Path(tempfile.mkdtemp(prefix="tocsin-operator-")) / "ca.pem"
    ca_file.write_bytes(endpoint.ca_pem)
    with endpoint:
        print(f"url={endpoint.url}", flush=True)
        print(f"ca={ca_file}", flush=True)
        print(f"token={endpoint.token}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
