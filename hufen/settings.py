"""One typed settings module.

Everything comes from the environment (or a `.env` file beside the project) with safe embedded
defaults: a SQLite file under `var/`, a local-memory cache, the Parquet lake under `var/lake`.
Production (`HUFEN_ENV=production`) refuses a placeholder secret key and DEBUG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HUFEN_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

PLACEHOLDER_SECRET = "hufen-insecure-development-key-change-me"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))

HUFEN_ENV: str = env.str("HUFEN_ENV", default="development")
if HUFEN_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"HUFEN_ENV: {HUFEN_ENV!r} is not one of development, test, production")
PRODUCTION = HUFEN_ENV == "production"

SECRET_KEY: str = env.str("HUFEN_SECRET_KEY", default=PLACEHOLDER_SECRET)
DEBUG: bool = env.bool("HUFEN_DEBUG", default=not PRODUCTION)
# Keyed hash for ID-card numbers and other identifiers that are matched but never stored in clear.
PII_HASH_KEY: str = env.str("HUFEN_PII_KEY", default=SECRET_KEY)

if PRODUCTION:
    if SECRET_KEY == PLACEHOLDER_SECRET or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("HUFEN_SECRET_KEY: production needs a real secret of at least 32 characters")
    if DEBUG:
        raise ImproperlyConfigured("HUFEN_DEBUG: must be off in production")
    if "HUFEN_PII_KEY" not in os.environ or len(PII_HASH_KEY) < 32 or PII_HASH_KEY == SECRET_KEY:
        # Kept apart from SECRET_KEY: rotating the session secret must not break identity matching.
        raise ImproperlyConfigured(
            "HUFEN_PII_KEY: production needs its own key of at least 32 characters, distinct from HUFEN_SECRET_KEY"
        )

ALLOWED_HOSTS: list[str] = env.list("HUFEN_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("HUFEN_CSRF_TRUSTED_ORIGINS", default=[])


def _database_from_url(url: str) -> dict[str, Any]:
    """Parse DATABASE_URL, naming the variable and the reason when it is malformed."""
    if "://" not in url:
        raise ImproperlyConfigured(
            f"DATABASE_URL: {url!r} is not a URL (expected e.g. postgres://user@host:5432/db or sqlite:///path)"
        )
    scheme = url.split("://", 1)[0]
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(f"DATABASE_URL: scheme {scheme!r} is not supported (use postgres:// or sqlite:///)")
    try:
        config: dict[str, Any] = environ.Env.db_url_config(url)
    except Exception as exc:  # environ raises several kinds on bad ports, hosts ...
        raise ImproperlyConfigured(f"DATABASE_URL: cannot parse {url!r}: {exc}") from exc
    if scheme != "sqlite" and not str(config.get("NAME") or "").strip("/"):
        raise ImproperlyConfigured(f"DATABASE_URL: {url!r} names no database")
    return config


# An empty DATABASE_URL counts as unset: the embedded SQLite file.
DATABASE_URL: str = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'hufen.sqlite3'}"
_db = _database_from_url(DATABASE_URL)
if _db["ENGINE"].endswith("sqlite3"):
    # WAL lets the web server read while a job writes; IMMEDIATE avoids lock upgrades mid-transaction.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    _db["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")} if env.bool("HUFEN_TEST_SQLITE_FILE", False) else {}
else:
    _db["CONN_MAX_AGE"] = env.int("HUFEN_DB_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LAKE_URL: str = env.str("HUFEN_LAKE_URL", default=str(VAR_DIR / "lake"))
REDIS_URL: str = env.str("REDIS_URL", default="")
# Accept event names outside the catalogue (stored as custom events) instead of rejecting them.
TRACKING_ALLOW_CUSTOM_EVENTS: bool = env.bool("HUFEN_TRACKING_ALLOW_CUSTOM_EVENTS", default=False)

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hufen"}}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    # ninja ships the Swagger UI assets: served locally, no CDN.
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "hufen.common",
    "hufen.org",
    "hufen.people",
    "hufen.identity",
    "hufen.tracking",
    "hufen.analytics",
    "hufen.membership",
    "hufen.partners",
    "hufen.memberday",
    "hufen.portal",
    "hufen.console",
    "hufen.api",
    "hufen.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "hufen.common.middleware.ChineseFirstLocaleMiddleware",
    # Member Day's check-in endpoint answered before the rest of the stack (memberday/middleware.py).
    "hufen.memberday.middleware.CheckInFastLane",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "hufen.urls"
WSGI_APPLICATION = "hufen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "hufen" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hufen.console.context.console",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("HUFEN_SESSION_SECONDS", default=8 * 3600)
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION

# Chinese first: zh-Hans by default, English available.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "hufen" / "locale"]
TIME_ZONE = env.str("HUFEN_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request while it is missing
# Front-end assets come from the npm registry at setup (`make assets`) into frontend/node_modules,
# which git ignores; they are served from there, never committed.
FRONTEND_MODULES = BASE_DIR / "frontend" / "node_modules"
STATICFILES_DIRS = [
    ("vendor/tabler", FRONTEND_MODULES / "@tabler" / "core" / "dist"),
    ("vendor/htmx", FRONTEND_MODULES / "htmx.org" / "dist"),
    ("vendor/echarts", FRONTEND_MODULES / "echarts" / "dist"),
    ("vendor/jsqr", FRONTEND_MODULES / "jsqr" / "dist"),
]
STATICFILES_DIRS = [d for d in STATICFILES_DIRS if Path(d[1]).is_dir()]
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("HUFEN_LOG_LEVEL", default="WARNING")},
}

# Brand-time-zone helpers read this; the group's brands default to it.
HUFEN_BRAND_TIME_ZONE = TIME_ZONE
# How many rows an export may hold at most; larger needs a background job.
HUFEN_EXPORT_MAX_ROWS = env.int("HUFEN_EXPORT_MAX_ROWS", default=50_000)
# Owner portal (/m/): the SMS gateway (a dotted path to a class with `send(message)`; the default
# writes to the outbox table, listed at /console/sms/), how long a member stays signed in, and the
# brand whose program a new sign-up joins when the login link names none.
HUFEN_SMS_BACKEND: str = env.str("HUFEN_SMS_BACKEND", default="hufen.common.sms.OutboxBackend")
HUFEN_PORTAL_SESSION_DAYS: int = env.int("HUFEN_PORTAL_SESSION_DAYS", default=30)
HUFEN_PORTAL_DEFAULT_BRAND: str = env.str("HUFEN_PORTAL_DEFAULT_BRAND", default="")
