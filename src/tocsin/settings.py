"""The one settings module, configured from the environment.

Every variable has a safe default for development and the demo; in
production (``TOCSIN_ENV=production``) a missing mandatory secret stops
start-up with a clear message. docs/installation.md lists every variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from exc


TOCSIN_ENV = env("TOCSIN_ENV", "development")
PRODUCTION = TOCSIN_ENV == "production"


def _secret_key() -> str:
    key = env("TOCSIN_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("TOCSIN_SECRET_KEY must be set when TOCSIN_ENV=production")
    # Development and demo: a key generated once and kept under var/.
    from tocsin.runtime.pg import var_dir

    path = var_dir() / "secret_key"
    if not path.exists():
        import secrets

        from tocsin.runtime.pg import write_private

        write_private(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("TOCSIN_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env("TOCSIN_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")]
CSRF_TRUSTED_ORIGINS = [o for o in env("TOCSIN_CSRF_TRUSTED_ORIGINS").split(",") if o]
BASE_URL = env("TOCSIN_BASE_URL", "http://127.0.0.1:8000")
if PRODUCTION and not os.environ.get("TOCSIN_BASE_URL"):
    # Invitation links in e-mails are built from it: a default would send people to localhost.
    raise ImproperlyConfigured(
        "TOCSIN_BASE_URL must be set when TOCSIN_ENV=production (e.g. https://tocsin.example.be)"
    )


def _database() -> dict[str, object]:
    url = env("DATABASE_URL")
    if not url:
        if PRODUCTION:
            raise ImproperlyConfigured("DATABASE_URL must be set when TOCSIN_ENV=production")
        from tocsin.runtime import pg

        if not pg.is_initialised():
            # Not started yet (`tocsin db start` or any command that needs it will).
            return {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": pg.DB_NAME,
                "HOST": "127.0.0.1",
            }
        url = pg.database_url()
    parts = urlparse(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured("DATABASE_URL must be a postgresql:// URL (Tocsin runs on PostgreSQL only)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": env_int("TOCSIN_DB_CONN_MAX_AGE", 0),
        "TEST": {"NAME": env("TOCSIN_TEST_DB_NAME", "test_tocsin")},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "procrastinate.contrib.django",
    "ninja",  # serves the API docs page from local static files, not a CDN
    "leaflet",  # Leaflet and Leaflet.draw as static files for the alert map
    "tocsin.audit",
    "tocsin.organisations",
    "tocsin.delivery",
    "tocsin.geo",
    "tocsin.citizens",
    "tocsin.audiences",
    "tocsin.alerts",
    "tocsin.billing",
    "tocsin.alarms",
    "tocsin.arc",
    "tocsin.emergency",
    "tocsin.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tocsin.web.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tocsin.web.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tocsin.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tocsin.web.context.portal",
            ],
        },
    },
]
ASGI_APPLICATION = "tocsin.asgi.application"
WSGI_APPLICATION = "tocsin.wsgi.application"

AUTH_USER_MODEL = "organisations.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Idle sessions expire: every request pushes the expiry forward.
SESSION_COOKIE_AGE = env_int("TOCSIN_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("TOCSIN_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy in production: HSTS, and trust its X-Forwarded-Proto when told to.
SECURE_HSTS_SECONDS = env_int("TOCSIN_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
if env_bool("TOCSIN_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Sign-in throttling (BA-7.4): after this many failures the account is locked.
TOCSIN_LOGIN_MAX_FAILURES = env_int("TOCSIN_LOGIN_MAX_FAILURES", 5)
# The receiver's panel keys are sealed under a key derived from this (default: the platform secret).
TOCSIN_RECEIVER_KEY_SECRET = env("TOCSIN_RECEIVER_KEY_SECRET", "")
TOCSIN_LOGIN_LOCK_SECONDS = env_int("TOCSIN_LOGIN_LOCK_SECONDS", 15 * 60)
TOCSIN_INVITATION_HOURS = env_int("TOCSIN_INVITATION_HOURS", 72)
# Citizens' sign-up (docs/citizens.md): proof-of-work difficulty, the countries whose numbers may register.
TOCSIN_POW_BITS = env_int("TOCSIN_POW_BITS", 16)
# Area broadcasts: seconds between two reads of an operator's counts (docs/broadcast.md).
TOCSIN_BROADCAST_POLL_S = env_int("TOCSIN_BROADCAST_POLL_S", 5)
# The TrueType font of the alert reports' PDF (Debian's fonts-dejavu-core by default).
TOCSIN_PDF_FONT = env("TOCSIN_PDF_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Billing (docs/billing.md): where order forms go, and the default pre-paid balance that warns administrators.
TOCSIN_BILLING_SUPPLIER_EMAIL = env("TOCSIN_BILLING_SUPPLIER_EMAIL", "orders@supplier.invalid")
TOCSIN_BILLING_LOW_BALANCE_UNITS = env_int("TOCSIN_BILLING_LOW_BALANCE_UNITS", 500)
TOCSIN_CITIZEN_COUNTRIES = tuple(c.strip().upper() for c in env("TOCSIN_CITIZEN_COUNTRIES", "BE").split(",") if c)
OTP_TOTP_ISSUER = "Tocsin"

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Europe/Brussels"

STATIC_URL = "/static/"


def _static_root() -> Path:
    from tocsin.runtime.pg import var_dir

    path = Path(env("TOCSIN_STATIC_ROOT", str(var_dir() / "static")))
    path.mkdir(parents=True, exist_ok=True)  # whitenoise serves from the app folders until collectstatic
    return path


STATIC_ROOT = _static_root()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = env("TOCSIN_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("TOCSIN_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("TOCSIN_SMTP_PORT", 25)
EMAIL_HOST_USER = env("TOCSIN_SMTP_USER")
EMAIL_HOST_PASSWORD = env("TOCSIN_SMTP_PASSWORD")
EMAIL_USE_TLS = env_bool("TOCSIN_SMTP_STARTTLS", False)
EMAIL_TIMEOUT = env_int("TOCSIN_SMTP_TIMEOUT", 10)


def _mail_dir() -> str:
    from tocsin.runtime.pg import var_dir

    return env("TOCSIN_MAIL_DIR", str(var_dir() / "mail"))


EMAIL_FILE_PATH = _mail_dir()
DEFAULT_FROM_EMAIL = env("TOCSIN_MAIL_FROM", "Tocsin <no-reply@tocsin.invalid>")

NINJA_PAGINATION_PER_PAGE = 50

PROCRASTINATE_ON_APP_READY = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("TOCSIN_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "procrastinate": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},  # fpdf2 subsetting the PDF font
    },
}
