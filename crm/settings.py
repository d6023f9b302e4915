"""Settings for the whole project, read from the environment only (see README, "Configuration")."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from crm.env import env_bool, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-laptop-only-key-set-SECRET_KEY-in-production"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if not DEBUG else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "crm.admin_site.BackofficeAdminConfig",  # django.contrib.admin with the back-office site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_eventstream",
    "crm",
    "pipelines",
    "tasks",
    "deals",
    "events",
    "huey.contrib.djhuey",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crm.middleware.ApiBodyLimitMiddleware",
    "crm.middleware.InputGuardMiddleware",
    "crm.api.throttling.RateLimitHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "crm.i18n.LanguageMiddleware",  # LocaleMiddleware for the back-office, English for the API (crm/i18n.py)
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

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
        },
    },
]

# SQLite on a laptop; DATABASE_URL=postgres://… everywhere else.
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request runs in a new thread, so persistent per-thread connections leak
    # (PERF-NOTES trap 2); a psycopg pool with CONN_MAX_AGE=0 is the safe way to reuse connections.
    DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 16)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
        }
    # Parameters bound server-side, and a statement run DB_PREPARE_THRESHOLD times on a connection is prepared: the
    # hot ones (the token's user read, the lists' pages) are then planned once per pooled connection, not on every
    # request (PostgreSQL CPU per request: /api/auth/me 0.32 → 0.13 ms, /api/tasks 0.95 → 0.48 ms; BENCHMARKS §11).
    # 0 prepares nothing, for a transaction-mode pooler that cannot hold prepared statements.
    DB_PREPARE_THRESHOLD = env_int("DB_PREPARE_THRESHOLD", 5)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=DB_PREPARE_THRESHOLD or None
    )
# Each process keeps the token users' rows while it LISTENs for changes to them (crm.auth_rows; PostgreSQL only).
# Off behind a transaction-mode pooler, which does not keep a session's LISTEN.
AUTH_ROW_CACHE = env_bool("AUTH_ROW_CACHE", True)

REDIS_URL = env_str("REDIS_URL")
# name -> dotted path of a function returning "ok" or "error: …", reported by /readyz.
READINESS_CHECKS: dict[str, str] = {}
if REDIS_URL:
    # Django's RedisCache on one process-wide connection pool (crm.redis_client says why).
    CACHES = {"default": {"BACKEND": "crm.redis_client.SharedPoolRedisCache", "LOCATION": REDIS_URL}}
    READINESS_CHECKS["redis"] = "crm.health.check_redis"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = ["crm.backends.UsernameOrEmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The back-office is Russian unless the browser asks for English; the API always answers in English (crm/i18n.py).
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only for `collectstatic` (when a proxy or CDN serves /static/). Unset, WhiteNoise serves assets straight from the
# apps' static folders, so /admin and /docs work right after `migrate`.
STATIC_ROOT = env_str("STATIC_ROOT")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Bodies over 1 MiB are refused with 413 (crm.middleware.ApiBodyLimitMiddleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["crm.api.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "crm.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.UserThenTenantRateThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Fixed-window request limits (crm.api.throttling); "" disables one.
THROTTLE_RATES = {
    "user": env_rate("THROTTLE_USER_RATE", "6000/min"),
    "tenant": env_rate("THROTTLE_TENANT_RATE", "30000/min"),
    "webhook": env_rate("THROTTLE_WEBHOOK_RATE", "3000/min"),
}

# Failed logins (crm.login_limits) at /api/auth/token and /admin/login/, per account and per client IP, in a window.
LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 10)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 50)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
# Reverse proxies in front of the app that append the peer to X-Forwarded-For (deploy/nginx.conf: 1). The client IP
# is the entry that many places from the right; 0 trusts no header and uses REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

JWT_ALGORITHM = env_str("JWT_ALGORITHM", "HS256")
if JWT_ALGORITHM not in {"HS256", "RS256"}:
    raise ImproperlyConfigured("JWT_ALGORITHM must be HS256 or RS256.")
SIMPLE_JWT: dict[str, Any] = {
    "ALGORITHM": JWT_ALGORITHM,
    # HS256: one shared secret. RS256: the private key signs our own tokens, the public key verifies all.
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY if JWT_ALGORITHM == "HS256" else ""),
    "VERIFYING_KEY": env_str("JWT_VERIFYING_KEY", ""),
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("ACCESS_TOKEN_MINUTES", 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("REFRESH_TOKEN_DAYS", 7)),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "Leads in sales pipelines (`/api`) and the insurance brokerage Deals API (`/api/v1`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api(/v\d+)?",
    # Several apps have a `type` or `status` field: name each enum after its own choice class.
    # Choice labels are translated; the document keeps their source text (crm/api/schema.py).
    "POSTPROCESSING_HOOKS": ["crm.api.schema.postprocess_schema_enums"],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "crm.models.Role",
        "LeadSourceEnum": "pipelines.models.LeadSource",
        "LeadHistoryKindEnum": "pipelines.models.HistoryKind",
        "LeadTaskTypeEnum": "tasks.models.TaskType",
        "LeadTaskStatusEnum": "tasks.models.TaskStatus",
        "LeadTaskDueEnum": "tasks.models.DueBucket",
        "ClientTypeEnum": "deals.models.clients.ClientType",
        "ClientStatusEnum": "deals.models.clients.ClientStatus",
        "ContactTypeEnum": "deals.models.clients.ContactType",
        "DealStatusEnum": "deals.models.deals.DealStatus",
        "JournalKindEnum": "deals.models.deals.JournalKind",
        "PolicyStatusEnum": "deals.models.policies.PolicyStatus",
        "PaymentTypeEnum": "deals.models.policies.PaymentType",
        "PaymentStatusEnum": "deals.models.policies.PaymentStatus",
        "DealTaskStatusEnum": "deals.models.tasks.DealTaskStatus",
        "DealTaskPriorityEnum": "deals.models.tasks.DealTaskPriority",
    },
    "TAGS": [
        {"name": "Auth"},
        {"name": "Users"},
        {"name": "Tenant"},
        {"name": "Pipelines"},
        {"name": "Leads"},
        {"name": "Tasks"},
        {"name": "Webhooks"},
        {"name": "Events"},
        {"name": "Clients"},
        {"name": "Deals"},
        {"name": "Policies"},
        {"name": "Payments"},
        {"name": "Tasks (v1)"},
        {"name": "Health"},
    ],
}

# Called with tenant=… inside tenant_create's transaction: per-tenant setup owned by the domain apps.
TENANT_SETUP_HOOKS = ["pipelines.services.default_pipeline_ensure"]

# Called with demo=crm.demo.DemoTenant by `manage.py demo_data`: each domain app adds its sample rows.
DEMO_DATA_HOOKS: list[str] = [
    "pipelines.demo.demo_leads_create",
    "tasks.demo.demo_tasks_create",
    "deals.demo.demo_deals_create",
]

# Back-office pages the domain apps plug into the admin site (crm.admin_site): functions admin_urls(site).
BACKOFFICE_URLS = [
    "crm.dashboard.admin_urls",
    "pipelines.board.admin_urls",
    "pipelines.exports.admin_urls",
    "pipelines.imports.admin_urls",
    "deals.exports.admin_urls",
    "deals.imports.admin_urls",
]
# Panels of the back-office dashboard (crm.dashboard), in page order: functions panel(*, request, tenant) -> Panel.
BACKOFFICE_DASHBOARD_PANELS = [
    "pipelines.dashboard.funnel_panel",
    "pipelines.dashboard.loss_reasons_panel",
    "pipelines.dashboard.sources_panel",
    "tasks.dashboard.tasks_panel",
    "deals.dashboard.deal_status_panel",
    "deals.dashboard.premiums_panel",
    "deals.dashboard.commissions_panel",
    "deals.dashboard.renewals_panel",
]

# Realtime (events app). Without REDIS_URL events stay inside one process.
EVENTS_PING_SECONDS = env_int("EVENTS_PING_SECONDS", 30)
EVENTS_REDIS_CHANNEL_PREFIX = env_str("EVENTS_REDIS_CHANNEL_PREFIX", "crm")
# Open streams per user and per tenant, across all processes when REDIS_URL is set (events.slots); beyond → 429.
EVENTS_MAX_STREAMS_PER_USER = env_int("EVENTS_MAX_STREAMS_PER_USER", 10)
EVENTS_MAX_STREAMS_PER_TENANT = env_int("EVENTS_MAX_STREAMS_PER_TENANT", 500)
# How often an open stream re-authenticates its user (revoked, deactivated, demoted → the stream ends).
EVENTS_USER_RECHECK_SECONDS = env_int("EVENTS_USER_RECHECK_SECONDS", 30)
EVENTSTREAM_STORAGE_CLASS = "events.storage.EventStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "events.channels.TenantChannelManager"
if REDIS_URL:
    from redis.connection import parse_url

    # django-eventstream takes redis-py keyword arguments, not a URL; the async client needs `ssl`, not a class.
    EVENTSTREAM_REDIS = {key: value for key, value in parse_url(REDIS_URL).items() if key != "connection_class"}
    if REDIS_URL.startswith("rediss://"):
        EVENTSTREAM_REDIS["ssl"] = True
    READINESS_CHECKS["events_subscriber"] = "events.subscriber.readiness"
# Background jobs (jobs app, huey; README "Workers"): the queue is Redis with REDIS_URL, where any number of
# `manage.py run_worker` processes share it; without it a SQLite file, so the laptop needs no extra service.
JOBS_SQLITE_PATH = env_str("JOBS_SQLITE_PATH", str(BASE_DIR / "jobs.sqlite3"))
HUEY = {
    "name": env_str("JOBS_QUEUE_NAME", "crm"),
    "huey_class": "huey.RedisHuey" if REDIS_URL else "huey.SqliteHuey",
    "immediate": False,
    "utc": True,
    "connection": {"url": REDIS_URL} if REDIS_URL else {"filename": JOBS_SQLITE_PATH},
    # Threads: the jobs wait on the network (deliveries) and the database, not on the CPU.
    "consumer": {"workers": env_int("JOBS_WORKER_THREADS", 4), "worker_type": "thread"},
}
# Outbound webhooks (events.webhooks, SPEC §14). 1: receivers on loopback and private addresses are allowed (tests,
# on-premises); link-local and cloud-metadata addresses never are.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", False)
# The serializer that renders each kind of object in webhook bodies: the API's own. A serializer naming no model
# (the v1 ones) is given as (model label, serializer path).
EVENTS_WEBHOOK_SERIALIZERS: dict[str, str | tuple[str, str]] = {
    "lead": "pipelines.api.serializers.LeadDetailSerializer",
    "client": ("deals.Client", "deals.api.serializers.ClientSerializer"),
    "deal": ("deals.Deal", "deals.api.serializers.DealSerializer"),
    "policy": ("deals.Policy", "deals.api.serializers.PolicySerializer"),
    "payment": ("deals.Payment", "deals.api.serializers.PaymentSerializer"),
}
# Scale-out behind Pushpin: its control URL, e.g. http://127.0.0.1:5561?iss=pushpin&key=<sig_key> (README).
GRIP_URL = env_str("GRIP_URL")
if GRIP_URL:
    MIDDLEWARE.insert(0, "django_grip.GripMiddleware")

# deals: where document folders are made for new deals.
DEALS_FOLDER_PROVIDER = env_str("DEALS_FOLDER_PROVIDER", "deals.folders.StableIdFolderProvider")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # django-eventstream logs every stream's listener at INFO: thousands of lines on a reconnect wave.
        "django_eventstream": {"level": "WARNING"},
        # With a handler of its own huey's worker adds none (it would print every line twice through the root).
        "huey": {"handlers": ["console"], "propagate": False},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)

# Served over HTTPS behind a TLS-terminating proxy that sets X-Forwarded-Proto (deploy/nginx.conf). Unset (the laptop,
# `make run`) everything stays plain http. The probes are exempt from the redirect: orchestrators call them over http.
SECURE_SSL = env_bool("SECURE_SSL", False)
if SECURE_SSL:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz)$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
