"""`tocsin demo`: the embedded PostgreSQL, migrations, demo data once, then web + worker.

One supervisor: children are separate processes (as in production), Ctrl-C
or SIGTERM stops them all and then the database server this run started.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

DEMO_USERS = [
    # (organisation key, e-mail, full name, roles)
    ("cc", "crisis@demo.tocsin.be", "Chris Crisis", ["admin"]),
    ("muni", "admin@gent.demo.tocsin.be", "Marie Gemeente", ["admin"]),
    ("muni", "operator@gent.demo.tocsin.be", "Omar Operator", ["operator"]),
    ("police", "admin@pz.demo.tocsin.be", "Pieter Politie", ["admin"]),
    ("arc", "admin@arc.demo.tocsin.be", "Anna Alarmcentrale", ["admin", "arc_operator"]),
    ("registry", "admin@meldpunt.demo.tocsin.be", "Roel Register", ["admin"]),
    ("ec", "ops@101.demo.tocsin.be", "Elif Noodcentrale", ["admin", "ec_operator"]),
]


def _logins_file() -> Path:
    from tocsin.runtime.pg import var_dir

    return var_dir() / "demo" / "logins.json"


def load_demo_data() -> bool:
    """Create the demo organisations and people once; False when already there."""
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tocsin.organisations import services
    from tocsin.organisations.models import Invitation, Organisation, User

    if Organisation.objects.filter(kind="crisis_centre").exists():
        return False
    logins: dict[str, dict[str, str]] = {}
    with transaction.atomic():
        cc_admin, _ = services.platform_bootstrap(
            crisis_centre_name="Nationaal Crisiscentrum (demo)",
            email=DEMO_USERS[0][1],
            full_name=DEMO_USERS[0][2],
        )
        cc_admin.organisation.refresh_from_db()
        orgs = {"cc": cc_admin.organisation}
        specs: dict[str, tuple[str, str, int, dict[str, Any]]] = {
            "muni": (
                "Stad Gent (demo)",
                "municipality",
                1,
                {"nis_code": "44021", "sms_sender": "Gent"},
            ),
            "police": ("Politiezone Demo", "police_zone", 3, {"sms_sender": "PZ Demo"}),
            "arc": ("Demo Alarmcentrale", "alarm_central", 4, {}),
            "registry": ("Meldpunt alarmsystemen (demo)", "registry_admin", 5, {}),
            "ec": ("Noodcentrale 101 Oost-Vlaanderen (demo)", "emergency_centre", 6, {}),
        }
        for key, (name, kind, admin_index, params) in specs.items():
            _, email, full_name, _roles = DEMO_USERS[admin_index]
            org = services.organisation_create(
                actor=cc_admin,
                name=name,
                kind=kind,
                admin_email=email,
                admin_name=full_name,
                bin_option=False,
            )
            if kind in {"municipality", "police_zone"}:
                params = {**params, "languages": ["nl", "fr"]}
            orgs[key] = services.organisation_activate(actor=cc_admin, organisation_id=org.pk, **params)
        for key, email, full_name, roles in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                admin = User.objects.get(organisation=orgs[key], roles__contains=["admin"])
                admin.organisation.refresh_from_db()
                user = services.user_invite(actor=admin, email=email, full_name=full_name, roles=roles)
            elif user.roles != roles:
                user = services.user_set_roles(actor=user, user_id=user.pk, roles=roles)
            password = "demo-" + secrets.token_urlsafe(9)
            invitation = Invitation.objects.filter(user=user, used_at__isnull=True).latest("created_at")
            token = services.invitation_url(invitation).rstrip("/").rsplit("/", 1)[-1]
            services.invitation_accept(token=token, password=password, password_again=password)
            device = TOTPDevice.objects.create(user=user, name="demo authenticator", confirmed=True)
            logins[email] = {
                "password": password,
                "totp_key": base64.b32encode(device.bin_key).decode(),
                "roles": ",".join(roles),
                "organisation": orgs[key].name,
            }
        services.conditions_publish(
            actor=cc_admin,
            title="BE-Alert gebruiksvoorwaarden (demo)",
            text="Demo-versie van de voorwaarden. Zie docs/manual/ voor de activeringsprocedure.",
        )
    path = _logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(logins, indent=2))
    path.chmod(0o600)
    return True


def load_demo_geography(count: int = 200_000) -> bool:
    """Municipalities, postal codes, outlines and a synthetic address register, once."""
    from tocsin.geo import services, synthetic
    from tocsin.geo.models import Address

    if Address.objects.exists():
        return False
    print("Loading Belgium's municipalities and a synthetic address register …", flush=True)
    services.municipalities_load()
    services.boundaries_load()
    synthetic.addresses_synthesise(count=count)
    from tocsin.citizens.synthetic import registrations_synthesise

    registrations_synthesise(count=count // 10)
    return True


def load_demo_alarms(count: int = 500) -> bool:
    """The registry of alarm systems: an alarm-report number for the demo central and ``count`` systems
    it registered (imported from a synthetic CSV), once."""
    from tocsin.alarms import services
    from tocsin.alarms.models import AlarmReportNumber
    from tocsin.alarms.synthetic import systems_csv
    from tocsin.organisations.models import User

    if AlarmReportNumber.objects.exists():
        return False
    registry = User.objects.filter(email=DEMO_USERS[5][1]).first()
    central = User.objects.filter(email=DEMO_USERS[4][1]).first()
    if registry is None or central is None:
        return False
    services.arn_assign(actor=services.as_member(registry), organisation_id=central.organisation_id, number="D001")
    services.import_csv(actor=services.as_member(central), data=systems_csv(count, arn="D001", prefix="D", seed=11))
    return True


DEMO_RECEIVER_PORT = 9009
DEMO_ACCOUNTS = 10


def load_demo_receiver() -> int | None:
    """The demo central's receiver accounts (1001…1010, the first ten demo systems, zones 1-4 with detection
    codes), its direct emergency number to the demo emergency centre, the approved verification methods;
    once. Returns the central's id (None: no demo central)."""
    from tocsin.alarms.models import AlarmSystem
    from tocsin.alarms.services import as_member
    from tocsin.arc import registry as arc_registry
    from tocsin.arc import services as arc_services
    from tocsin.arc.models import ReceiverAccount
    from tocsin.organisations.models import User

    central = User.objects.filter(email=DEMO_USERS[4][1]).first()
    registry = User.objects.filter(email=DEMO_USERS[5][1]).first()
    desk = User.objects.filter(email=DEMO_USERS[6][1]).first()
    if central is None or registry is None or desk is None:
        return None
    arc_registry.ensure_default_methods()
    if not ReceiverAccount.objects.filter(central_id=central.organisation_id).exists():
        systems = AlarmSystem.objects.filter(central_id=central.organisation_id).order_by("pk")[:DEMO_ACCOUNTS]
        for n, system in enumerate(systems):
            account = f"{1001 + n}"
            arc_services.account_set(actor=as_member(central), account=account, system_reference=system.reference)
            for zone, place in enumerate(("front door", "hall", "kitchen", "garage"), start=1):
                arc_services.zone_set(actor=as_member(central), account=account, zone=str(zone),
                                      detection_code=f"D{n + 1:02d}-{zone:02d}", label=place)  # fmt: skip
        arc_registry.direct_number_set(actor=as_member(registry), central_id=central.organisation_id,
                                       number="0800 00 101", emergency_centre_id=desk.organisation_id)  # fmt: skip
    return central.organisation_id


DEMO_MAILBOX_PORT = 8025


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def demo_mailbox_gateway() -> str | None:
    """Point a platform e-mail gateway at the demo's mailbox, unless an e-mail gateway exists already.

    Returns the folder the mailbox writes to (None when a real gateway is configured).
    """
    from tocsin.delivery.models import Gateway
    from tocsin.delivery.services import gateway_configure
    from tocsin.runtime.pg import var_dir

    existing = Gateway.objects.filter(channel="email", enabled=True).exclude(name="demo-mailbox").exists()
    if existing:
        return None
    folder = str(var_dir() / "demo-mail")
    gateway_configure(
        name="demo-mailbox",
        kind="smtp",
        channel="email",
        rate_per_s=50,
        concurrency=1,
        config={"host": "127.0.0.1", "port": DEMO_MAILBOX_PORT, "from": "Tocsin demo <demo@tocsin.invalid>"},
    )
    return folder


def current_code(email: str) -> str | None:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user__email__iexact=email, name="demo authenticator").first()
    if device is None:
        return None
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def run_demo(*, host: str, port: int) -> int:
    from tocsin.runtime import pg

    env = dict(os.environ)
    env.setdefault("TOCSIN_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    env.setdefault("TOCSIN_BASE_URL", f"http://{host}:{port}")
    os.environ.update({k: env[k] for k in ("TOCSIN_EMAIL_BACKEND", "TOCSIN_BASE_URL")})
    started_db = False
    if not env.get("DATABASE_URL"):
        print("Starting the embedded PostgreSQL under ./var/pg …", flush=True)
        started_db = pg.start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    print("Migrating …", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    if load_demo_data():
        print("Demo data loaded.", flush=True)
    if load_demo_geography():
        print(
            "Belgium's municipalities, a synthetic register of 200,000 addresses and 20,000 synthetic "
            "registrations (e-mail at example.invalid) loaded.",
            flush=True,
        )
    if load_demo_alarms():
        print("500 alarm systems registered by the demo alarm central.", flush=True)
    central_id = load_demo_receiver()
    mail_dir = demo_mailbox_gateway()
    tocsin = [sys.executable, "-m", "tocsin.cli"]
    children = {
        "web": subprocess.Popen([*tocsin, "web", "--host", host, "--port", str(port)], env=env),
        "worker": subprocess.Popen([*tocsin, "worker"], env=env),
        "cases": subprocess.Popen([*tocsin, "cases"], env=env),
    }
    if central_id is not None and _port_free(DEMO_RECEIVER_PORT):
        children["receiver"] = subprocess.Popen(
            [*tocsin, "receiver", "--central", str(central_id), "--tcp", str(DEMO_RECEIVER_PORT),
             "--udp", str(DEMO_RECEIVER_PORT)],
            env=env,
        )  # fmt: skip
    elif central_id is not None:
        print(f"Port {DEMO_RECEIVER_PORT} is taken: the demo alarm receiver does not start.", flush=True)
    if mail_dir is not None and not _port_free(DEMO_MAILBOX_PORT):
        print(f"Port {DEMO_MAILBOX_PORT} is taken: the demo mailbox does not start (e-mail stays queued).", flush=True)
        mail_dir = None
    if mail_dir is not None:
        children["mailbox"] = subprocess.Popen(
            [sys.executable, "-m", "tocsin.runtime.demo_mailbox", "--port", str(DEMO_MAILBOX_PORT), "--dir", mail_dir],
            env=env,
        )
    _print_banner(host, port)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(
                        f"{name} exited with code {child.returncode}; stopping the demo.",
                        flush=True,
                    )
                    stopping, code = True, 1
            time.sleep(0.3)
    finally:
        print("Stopping …", flush=True)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if started_db:
            pg.stop()
            print("Embedded PostgreSQL stopped.", flush=True)
    return code


def _print_banner(host: str, port: int) -> None:
    logins = json.loads(_logins_file().read_text()) if _logins_file().exists() else {}
    lines = [
        "",
        "=" * 72,
        f"  Tocsin demo: http://{host}:{port}/      API docs: http://{host}:{port}/api/v1/docs",
        "  Demo logins (demo data only; real accounts are invited by a one-time link):",
    ]
    for email, info in logins.items():
        lines.append(f"    {email:34} {info['password']:18} {info['organisation']}")
    lines += [
        "  Two-factor code of a demo login:  .venv/bin/tocsin demo-code EMAIL",
        "  (or add the key from var/demo/logins.json to an authenticator app)",
        "  E-mail sent through the delivery engine (citizens' codes, sign-in links) lands in var/demo-mail/.",
        "  Citizens sign up at /citizen/ (e-mail works in the demo; SMS needs a gateway: docs/delivery.md).",
        "  An alarm from a simulated panel (the central's console at /arc/console/, the desk at /desk/):",
        f"    .venv/bin/tocsin panel --port {DEMO_RECEIVER_PORT} --account 1001 --code BA --zone 2",
        "  Ctrl-C stops everything; the next `make demo` keeps the data.",
        "=" * 72,
        "",
    ]
    print("\n".join(lines), flush=True)
