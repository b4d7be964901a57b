"""E-mail: Tocsin's SMTP channel against Django's send_mass_mail, same loopback server, same run.

Prints name=value lines:
  messages                      N
  email_outbox_write_s          seconds to queue N e-mail deliveries
  email_per_s                   N / seconds from queuing to the last message handed to the server, by one
                                running `tocsin worker` (multipart text + HTML, claimed and recorded)
  django_send_mass_mail_per_s   N / seconds for django.core.mail.send_mass_mail (plain text, one connection,
                                nothing recorded)
  email_vs_django               the ratio of the two
  sink_received                 messages the server accepted (2 N when nothing was lost)
  sink_cpu_busy_during_*        share of one core the server used in each phase (1.0: the server sets the pace)

The server is a counting aiosmtpd sink in its own process. (Named email_bench.py: a module
called email.py would shadow the standard library's email package.)

    .venv/bin/python bench/email_bench.py --messages 10000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time

from common import ROOT, scratch_database, wait_drained


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int) -> None:
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the SMTP sink did not start")


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8, help="Tocsin's parallel SMTP connections")
    parser.add_argument("--no-pipelining", action="store_true", help="the server does not offer PIPELINING")
    parser.add_argument("--profile", help="record the worker with py-spy into this file (speedscope format)")
    args = parser.parse_args()
    n = args.messages

    with scratch_database() as (url, env):
        from tests.peers.smtp_sink import serve

        count = multiprocessing.Value("l", 0)
        port = _free_port()
        sink = multiprocessing.Process(target=serve, args=(port, count, not args.no_pipelining), daemon=True)
        sink.start()
        _wait_port(port)
        worker = None
        try:
            from django.core.mail import get_connection, send_mass_mail

            from tocsin.delivery import services
            from tocsin.delivery.domain import Channel, Priority
            from tocsin.organisations.models import Organisation

            subject, text = "Tocsin bench", "Dit is een test van Tocsin.\n\nGeen actie nodig.\n"
            html = "<p>Dit is een test van <strong>Tocsin</strong>.</p><p>Geen actie nodig.</p>"
            addresses = [f"person{i}@example.be" for i in range(n)]

            # Django first: one connection, plain text (what send_mass_mail does).
            connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port)
            start, sink_cpu = time.perf_counter(), _cpu_s(sink.pid)
            sent = send_mass_mail(
                [(subject, text, "noreply@tocsin.invalid", [a]) for a in addresses], connection=connection
            )
            django_s = time.perf_counter() - start
            django_sink_busy = (_cpu_s(sink.pid) - sink_cpu) / django_s
            assert sent == n, sent

            org = Organisation.objects.create(name="Bench", kind="municipality", status="active")
            services.gateway_configure(
                name="sink", kind="smtp", channel="email", rate_per_s=1_000_000, concurrency=2,
                config={"host": "127.0.0.1", "port": port, "connections": args.connections, "batch": 400,
                        "from": "Tocsin <noreply@tocsin.invalid>", "bounce_address": "bounces@tocsin.invalid"},
            )  # fmt: skip
            from django.db import connections

            command = [sys.executable, "-m", "tocsin.cli", "worker"]
            if args.profile:
                command = ["py-spy", "record", "-r", "200", "-f", "speedscope", "-o", args.profile, "--", *command]
            # The worker runs already (as in production) and waits on LISTEN; timing starts at the commit.
            worker = subprocess.Popen(command, cwd=ROOT, env=env)
            time.sleep(3)
            start, sink_cpu = time.perf_counter(), _cpu_s(sink.pid)
            services.send_request_create(
                organisation_id=org.pk, created_by_id=None, purpose="bench", priority=Priority.INFORMATION,
                content={"nl": {"subject": subject, "text": text, "html": html}},
                recipients={Channel.EMAIL: [(a, "nl") for a in addresses]},
            )  # fmt: skip
            write_s = time.perf_counter() - start
            connections.close_all()
            tocsin_s = wait_drained(url, 600, states=("queued", "claimed"), poll=0.02) + write_s
            tocsin_sink_busy = (_cpu_s(sink.pid) - sink_cpu) / tocsin_s
            print(f"messages={n}")
            print(f"email_outbox_write_s={write_s:.2f}")
            print(f"email_per_s={n / tocsin_s:.0f}")
            print(f"django_send_mass_mail_per_s={n / django_s:.0f}")
            print(f"email_vs_django={django_s / tocsin_s:.2f}")
            print(f"sink_received={count.value}")
            print(f"sink_cpu_busy_during_tocsin={tocsin_sink_busy:.2f}")
            print(f"sink_cpu_busy_during_django={django_sink_busy:.2f}")
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGINT)  # py-spy, when profiling, writes its file on SIGINT
                worker.wait(30)
            sink.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
