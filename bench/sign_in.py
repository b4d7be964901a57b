"""Sign-in cost: argon2 verification per password check (Django's Argon2PasswordHasher).

Prints name=value lines; no database needed.

    .venv/bin/python bench/sign_in.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import check_password, make_password

    encoded = make_password("correct horse battery staple 42")
    samples = []
    for _ in range(30):
        start = time.perf_counter()
        assert check_password("correct horse battery staple 42", encoded)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"argon2_check_ms_median={statistics.median(samples):.1f}")
    print(f"argon2_check_ms_max={max(samples):.1f}")
    print(f"password_checks_per_s_per_core={1000 / statistics.median(samples):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
