"""GitOps Portal settings: from the environment only (documented in `.env.example`)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gitops_portal.env import (
    ensure_writable_dir,
    env_bool,
    env_file_load,
    env_int,
    env_list,
    env_pairs,
    env_path,
    env_str,
    env_url,
)
from promotions.text import redact

BASE_DIR = Path(__file__).resolve().parent.parent
# A local `.env` (`make run` writes the demo's settings there) fills in what the environment leaves unset.
ENV_FILE = env_file_load("GITOPS_PORTAL_ENV_FILE", BASE_DIR / ".env")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off (set SECRET_KEY or SECRET_KEY_FILE)")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = ensure_writable_dir("GITOPS_PORTAL_DATA_DIR", env_path("GITOPS_PORTAL_DATA_DIR", BASE_DIR / "var"))
GITOPS_PORTAL_CONFIG = env_path("GITOPS_PORTAL_CONFIG", DATA_DIR / "demo" / "gitops-portal.yaml")
# A Git snapshot older than this is re-read when someone looks at the dashboard.
GITOPS_PORTAL_GIT_REFRESH_SECONDS = env_int("GITOPS_PORTAL_GIT_REFRESH_SECONDS", 60)
# Upper bound for one network Git operation (clone, fetch).
GITOPS_PORTAL_GIT_TIMEOUT = env_int("GITOPS_PORTAL_GIT_TIMEOUT", 120, minimum=1)
# "Add a repository" (admins) takes https:// and ssh URLs only; on, also file:// (local bare
# repositories: tests, demos). Off in production: a file:// URL reads the portal host's own disk.
GITOPS_PORTAL_INIT_FILE_URLS = env_bool("GITOPS_PORTAL_INIT_FILE_URLS", False)
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "unix"))
# Chatops: Slack's signing secret for slash commands; Mattermost's slash command token.
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
MATTERMOST_COMMAND_TOKEN = env_str("MATTERMOST_COMMAND_TOKEN")
# Where people reach the portal: links in pull requests and notifications.
GITOPS_PORTAL_URL = env_url("GITOPS_PORTAL_URL", ("http", "https")) or "http://127.0.0.1:8000"
# `/metrics` (Prometheus) asks for this bearer token when set; unset, it is open (in-cluster scraping).
GITOPS_PORTAL_METRICS_TOKEN = env_str("GITOPS_PORTAL_METRICS_TOKEN")
# Who commits: promotions are authored by the requester and committed by the portal.
GITOPS_PORTAL_GIT_NAME = env_str("GITOPS_PORTAL_GIT_NAME", "GitOps Portal")
GITOPS_PORTAL_GIT_EMAIL = env_str("GITOPS_PORTAL_GIT_EMAIL", "gitops-portal@localhost")
# A promotion queued or being applied for longer than this is re-sent by the sweeper
# (default: longer than a task may run).
GITOPS_PORTAL_STUCK_SECONDS = env_int("GITOPS_PORTAL_STUCK_SECONDS", 660, minimum=1)
GITOPS_PORTAL_SWEEP_SECONDS = env_int("GITOPS_PORTAL_SWEEP_SECONDS", 30, minimum=1)
# A promotion whose Git server stays unreachable (or whose repository stays missing) is retried
# with backoff this many times in all, then fails with the cause.
GITOPS_PORTAL_MAX_ATTEMPTS = env_int("GITOPS_PORTAL_MAX_ATTEMPTS", 10, minimum=1)
# A stage file bigger than this is not parsed: its cells say so (and it cannot be promoted into).
GITOPS_PORTAL_MAX_FILE_BYTES = env_int("GITOPS_PORTAL_MAX_FILE_BYTES", 4 * 1024 * 1024, minimum=1024)
# How often every stage's cluster is read (live state, promotion rollouts).
GITOPS_PORTAL_LIVE_REFRESH_SECONDS = env_int("GITOPS_PORTAL_LIVE_REFRESH_SECONDS", 30, minimum=1)
# The audit history: each event's hash is also signed with this key (HMAC-SHA256) when set,
# and the chain's head is anchored outside the database, as a commit on a ref of a
# catalogue repository (default: the first), every GITOPS_PORTAL_AUDIT_ANCHOR_SECONDS.
AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY")
if AUDIT_HMAC_KEY and len(AUDIT_HMAC_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY: use at least 32 characters (e.g. `openssl rand -hex 32`)")
GITOPS_PORTAL_AUDIT_ANCHOR_SECONDS = env_int("GITOPS_PORTAL_AUDIT_ANCHOR_SECONDS", 3600, minimum=1)
GITOPS_PORTAL_AUDIT_ANCHOR_REPOSITORY = env_str("GITOPS_PORTAL_AUDIT_ANCHOR_REPOSITORY")
GITOPS_PORTAL_AUDIT_ANCHOR_REF = env_str("GITOPS_PORTAL_AUDIT_ANCHOR_REF", "refs/gitops-portal/audit-anchors")
if not re.fullmatch(r"refs(/[\w-]+(\.[\w-]+)*)+", GITOPS_PORTAL_AUDIT_ANCHOR_REF):
    raise ImproperlyConfigured(
        "GITOPS_PORTAL_AUDIT_ANCHOR_REF: expected a ref like refs/gitops-portal/audit-anchors, "
        f"got {GITOPS_PORTAL_AUDIT_ANCHOR_REF!r}"
    )
# Retention: `audit archive` moves events older than this many days (unset: only when asked with
# --older-than) into gzip'd JSON-lines files in this directory; `audit verify` reads them back.
GITOPS_PORTAL_AUDIT_RETENTION_DAYS = env_int("GITOPS_PORTAL_AUDIT_RETENTION_DAYS", 0, minimum=1) or None
GITOPS_PORTAL_AUDIT_ARCHIVE_DIR = env_path("GITOPS_PORTAL_AUDIT_ARCHIVE_DIR", DATA_DIR / "audit-archive")

_database_url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc} (got {redact(_database_url)!r})") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Readers never wait for the (single) writer; writers wait their turn instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "promotions",
]

MIDDLEWARE = [
    # /healthz and /readyz first: probes come on the pod's address, over plain HTTP.
    "promotions.web.middleware.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Pages and API documents compress ~20x (the dashboard's rows repeat). BREACH: the CSRF token
    # Django puts in pages is masked anew on every response, and no other secret is reflected.
    "django.middleware.gzip.GZipMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "promotions.web.middleware.AuditContextMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a refused sign-in into the lockout page
]

ROOT_URLCONF = "gitops_portal.urls"
WSGI_APPLICATION = "gitops_portal.wsgi.application"
ASGI_APPLICATION = "gitops_portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Django finds tag libraries in an app's own templatetags/ only; the UI's are in promotions/web.
            "libraries": {"labels": "promotions.web.templatetags.labels"},
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Sign-in throttling (django-axes; failures are counted in the database, so every web process
# sees the same numbers). After GITOPS_PORTAL_LOGIN_FAILURE_LIMIT failures for one account, or
# GITOPS_PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT from one client address, every sign-in for that account
# or from that address (the admin's too) is answered 429 until GITOPS_PORTAL_LOGIN_COOLOFF_MINUTES
# have passed since the last counted failure; `manage.py axes_reset_username <name>` unlocks sooner.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "promotions.web.login.PasswordBackend",  # superusers only when GITOPS_PORTAL_LOCAL_LOGIN is off
    "promotions.web.oidc.PortalOIDCBackend",  # answers the /oidc/callback/ only, when single sign-on is on
]
GITOPS_PORTAL_LOGIN_FAILURE_LIMIT = env_int("GITOPS_PORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
GITOPS_PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("GITOPS_PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
# The client address is REMOTE_ADDR. Behind N reverse proxies that each append to X-Forwarded-For,
# set N: the address is then the one the outermost proxy saw (what a client sends itself never counts).
GITOPS_PORTAL_TRUSTED_PROXY_COUNT = env_int("GITOPS_PORTAL_TRUSTED_PROXY_COUNT", 0)
AXES_HANDLER = "promotions.web.login.LoginThrottle"
AXES_FAILURE_LIMIT = GITOPS_PORTAL_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GITOPS_PORTAL_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # attempts during a lockout are refused, not recorded
AXES_CLIENT_IP_CALLABLE = "promotions.web.login.client_address"
AXES_LOCKOUT_CALLABLE = "promotions.web.login.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit history
AXES_VERBOSE = False  # no start-up banner on every command
# Passwords off (false): only superusers may still sign in with one, the break-glass door for when
# the identity provider is down (see promotions/web/login.py).
GITOPS_PORTAL_LOCAL_LOGIN = env_bool("GITOPS_PORTAL_LOCAL_LOGIN", True)
# Single sign-on (OpenID Connect, authorization code + PKCE): on when the issuer, client id and
# secret are all set. The provider's endpoints come from <issuer>/.well-known/openid-configuration.
GITOPS_PORTAL_OIDC_ISSUER = env_url("GITOPS_PORTAL_OIDC_ISSUER", ("http", "https")).rstrip("/")
OIDC_RP_CLIENT_ID = env_str("GITOPS_PORTAL_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("GITOPS_PORTAL_OIDC_CLIENT_SECRET")
_oidc_given = {
    "ISSUER": GITOPS_PORTAL_OIDC_ISSUER,
    "CLIENT_ID": OIDC_RP_CLIENT_ID,
    "CLIENT_SECRET": OIDC_RP_CLIENT_SECRET,
}
if any(_oidc_given.values()) and not all(_oidc_given.values()):
    missing = ", ".join(f"GITOPS_PORTAL_OIDC_{name}" for name, value in _oidc_given.items() if not value)
    raise ImproperlyConfigured(f"single sign-on: also set {missing} (or none of the OIDC variables)")
GITOPS_PORTAL_OIDC_ENABLED = all(_oidc_given.values())
OIDC_RP_SCOPES = env_str("GITOPS_PORTAL_OIDC_SCOPES", "openid email profile")
GITOPS_PORTAL_OIDC_GROUPS_CLAIM = env_str("GITOPS_PORTAL_OIDC_GROUPS_CLAIM", "groups")
# IdP group=portal group pairs: only these IdP groups ever become portal groups.
GITOPS_PORTAL_OIDC_GROUP_MAP = env_pairs("GITOPS_PORTAL_OIDC_GROUP_MAP")
# A claim that, when false, refuses the sign-on (e.g. `active`); unset: not checked.
GITOPS_PORTAL_OIDC_ACTIVE_CLAIM = env_str("GITOPS_PORTAL_OIDC_ACTIVE_CLAIM")
GITOPS_PORTAL_OIDC_LEEWAY_SECONDS = env_int("GITOPS_PORTAL_OIDC_LEEWAY_SECONDS", 60)
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env_int("GITOPS_PORTAL_OIDC_TIMEOUT", 10, minimum=1)
OIDC_AUTHENTICATE_CLASS = "promotions.web.oidc.PortalAuthenticateView"
OIDC_CALLBACK_CLASS = "promotions.web.oidc.PortalCallbackView"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HSTS (sent over HTTPS only) never with DEBUG on: a developer's http://localhost stays usable.
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Content-Security-Policy, with DEBUG on too (so developers see violations): nothing inline,
# nothing from elsewhere. The Swagger UI (drf-spectacular's page with inline script and style) is exempt.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/v1/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic puts the files whitenoise serves: the image collects them at build into
# /app/staticfiles (GITOPS_PORTAL_STATIC_ROOT), apart from the data dir, which may be an empty volume.
STATIC_ROOT = env_path("GITOPS_PORTAL_STATIC_ROOT", DATA_DIR / "static")
if not STATIC_ROOT.exists():  # whitenoise warns about a missing folder; the image's is read-only and present
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "promotions.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser; CSRF enforced
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "promotions.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GitOps Portal API",
    "DESCRIPTION": "Versions per stage, live state, promotions, reviews, rollbacks and the audit history.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this host: no CDN needed
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "promotions.api.schema.add_links"],
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "TIMEOUT": 600}}
if REDIS_URL:
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}

# Celery: Redis when REDIS_URL is set, otherwise a filesystem broker under the data dir
# (no server needed; the worker still runs as its own process).
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
# Task time limits stay below the visibility timeout, after which Redis hands an
# unacknowledged task (its worker died) to another worker.
CELERY_TASK_TIME_LIMIT = env_int("GITOPS_PORTAL_TASK_TIME_LIMIT", 600, minimum=2)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 1
_visibility = env_int("GITOPS_PORTAL_BROKER_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT, minimum=1)
if _visibility <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "GITOPS_PORTAL_BROKER_VISIBILITY_TIMEOUT: must be longer than GITOPS_PORTAL_TASK_TIME_LIMIT "
        f"({_visibility} <= {CELERY_TASK_TIME_LIMIT})"
    )
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {"visibility_timeout": _visibility, "socket_connect_timeout": 3, "socket_timeout": 10}
    if REDIS_URL
    else {
        "data_folder_in": str(ensure_writable_dir("GITOPS_PORTAL_DATA_DIR", DATA_DIR / "broker" / "queue")),
        "data_folder_out": str(DATA_DIR / "broker" / "queue"),
        "processed_folder": str(ensure_writable_dir("GITOPS_PORTAL_DATA_DIR", DATA_DIR / "broker" / "done")),
        "control_folder": str(ensure_writable_dir("GITOPS_PORTAL_DATA_DIR", DATA_DIR / "broker" / "control")),
        "store_processed": False,
    }
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING below, as the web does
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "matrix-refresh": {
        "task": "promotions.tasks.matrix_refresh_task",
        "schedule": float(GITOPS_PORTAL_GIT_REFRESH_SECONDS or 60),
    },
    "live-refresh": {
        "task": "promotions.tasks.live_refresh_task",
        "schedule": float(GITOPS_PORTAL_LIVE_REFRESH_SECONDS),
    },
    "promotions-sweep": {
        "task": "promotions.tasks.promotions_sweep_task",
        "schedule": float(GITOPS_PORTAL_SWEEP_SECONDS),
    },
    "audit-anchor": {
        "task": "promotions.tasks.audit_anchor_task",
        "schedule": float(GITOPS_PORTAL_AUDIT_ANCHOR_SECONDS),
    },
}
# With Redis, beat keeps its schedule there behind a lock (celery-redbeat): a second beat (a rolling
# update, two replicas by mistake) waits for the lock instead of sending every task twice, and takes
# over within the lock's lifetime when the first one dies. Beat refreshes the lock every loop.
if REDIS_URL:
    CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
    CELERY_REDBEAT_REDIS_URL = REDIS_URL
    CELERY_REDBEAT_KEY_PREFIX = "gitops-portal:beat"
    CELERY_BEAT_MAX_LOOP_INTERVAL = 5
    CELERY_REDBEAT_LOCK_TIMEOUT = env_int("GITOPS_PORTAL_BEAT_LOCK_SECONDS", 30, minimum=10)  # > 2 loops

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
# plain (the default, for `make run`) or json: one JSON object per line, with the request id,
# promotion id, application(s), stage and task where known (promotions/logcontext.py).
LOG_FORMAT = env_str("GITOPS_PORTAL_LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"GITOPS_PORTAL_LOG_FORMAT: expected plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"context": {"()": "promotions.logcontext.ContextFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}, "git": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
