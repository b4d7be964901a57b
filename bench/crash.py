"""Kill -9 a worker in the middle of a send of N SMS, start another, count what was lost and sent twice.

Prints name=value lines:
  recipients               N
  sent_before_kill         messages the SMSC had accepted when the worker was killed
  lost=                    deliveries that never reached the SMSC or did not end delivered (must be 0)
  duplicates=              extra copies the SMSC accepted (bounded by what was claimed and in flight)
  unflagged_duplicates     duplicates whose delivery is not marked possible_duplicate (must be 0)
  flagged                  deliveries marked possible_duplicate
  in_flight_bound          connections x batch size: the most a dead worker can have had in flight
  seconds                  from queuing to the last receipt, lease (5 s) included

    .venv/bin/python bench/crash.py --recipients 100000
"""

from __future__ import annotations

import argparse
import sys

from common import scratch_database


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share sent when the worker is killed")
    args = parser.parse_args()
    with scratch_database() as (url, _env):
        from tests.delivery import crash

        from tocsin.organisations.models import Organisation

        org = Organisation.objects.create(name="Bench", kind="municipality", status="active")
        report = crash.run(url, organisation_id=org.pk, recipients=args.recipients, kill_at=args.kill_at)
    print(f"recipients={report.recipients}")
    print(f"sent_before_kill={report.sent_before_kill}")
    print(f"lost={report.lost}")
    print(f"duplicates={report.duplicates}")
    print(f"unflagged_duplicates={report.unflagged_duplicates}")
    print(f"flagged={report.flagged}")
    print(f"in_flight_bound={report.bound}")
    print(f"seconds={report.seconds:.1f}")
    return 0 if report.lost == 0 and report.unflagged_duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
