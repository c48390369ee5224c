"""Settings: the only module that reads the environment (see .env.example)."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, got {raw!r}")


def env_number(name: str, default: float, cast=float):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
# Servers refuse to start on the development SECRET_KEY / derived encryption keys unless this is on
# (broker/startup.py); `make run` turns it on and prints a warning.
DEV_SECRETS = env_bool("DEV_SECRETS", DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "marketplace",
    "nim_launcher",
    "jobs",
    "fleets",
    "pods",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "broker.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "broker.urls"
WSGI_APPLICATION = "broker.wsgi.application"
ASGI_APPLICATION = "broker.asgi.application"

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

# Persistent connections stay off by default: under ASGI every request's sync code runs on a fresh thread,
# so a kept-alive connection is never reused nor closed (broker/asgi.py refuses to start with them).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'broker.sqlite3'}"),
        conn_max_age=int(env_number("DB_CONN_MAX_AGE", 0, int)),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve straight from static/ in development; collectstatic for production
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketplace.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.OfferPagination",
    "DEFAULT_THROTTLE_CLASSES": [],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "marketplace.api.schema.BrokerAutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["marketplace.api.parsers.LimitedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "UNAUTHENTICATED_USER": None,
    "URL_FORMAT_OVERRIDE": None,  # `?format=csv` belongs to the usage endpoint, not content negotiation
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GPU Broker API",
    "DESCRIPTION": "Multi-cloud GPU marketplace: catalogue, matching, rentals, deployments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies without the read-only fields, answers without write-only
    "ENUM_NAME_OVERRIDES": {
        "RentalStateEnum": "marketplace.models.RentalState", "NodeStateEnum": "marketplace.models.NodeState",
        "DeploymentStateEnum": "nim_launcher.models.DeploymentState",
        "ReplicaStateEnum": "nim_launcher.models.ReplicaState", "RepairEnum": "marketplace.models.Repair",
        "AgentRepairEnum": "marketplace.api.nodes.AGENT_REPAIRS", "PartnerJobStateEnum": "marketplace.api.admin_partners.JOB_STATES",
        "JobStateEnum": "jobs.models.JobState", "JobTemplateEnum": "jobs.models.JobTemplate",
        "JobFailureKindEnum": "jobs.models.FailureKind",
        "MachineStateEnum": "fleets.models.MachineState", "WorkStateEnum": "fleets.models.WorkState",
    },
    "APPEND_COMPONENTS": {"securitySchemes": {"NodeToken": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "The node agent's token: `Node <token>` (one per node, issued at launch)."}, "MachineToken": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "A fleet machine's credential: `Machine <token>` (issued once when it joins)."}}},
}

REDIS_URL = env_str("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery: a server-less SQLite queue by default (broker/sqlite_transport.py), Redis (or any broker URL) in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or f"sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
QUEUE_POLL_S = env_number("QUEUE_POLL_S", 0.05)  # SQLite queue: idle poll interval (worst added queue wait)
QUEUE_LEASE_S = env_number("QUEUE_LEASE_S", 30.0)  # SQLite queue: a dead worker's messages come back after this
if QUEUE_POLL_S <= 0 or QUEUE_LEASE_S <= 0:
    raise ImproperlyConfigured("QUEUE_POLL_S and QUEUE_LEASE_S must be > 0")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again; every task is idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Secrets at rest: Fernet keys (comma-separated, first one encrypts); derived from SECRET_KEY only in development.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", "")

# Catalogue and matching
CATALOG_DIR = env_str("CATALOG_DIR", str(BASE_DIR.parent / "shared" / "catalog" / "skypilot"))
CATALOG_SNAPSHOT = BASE_DIR / "marketplace" / "data" / "catalog_snapshot.json.gz"
OFFER_STALE_AFTER_S = env_number("OFFER_STALE_AFTER_S", 0, int)  # 0 = list prices never go stale
SUSPECT_PRICE_FRACTION = env_number("SUSPECT_PRICE_FRACTION", 0.25)
PARTNER_SYNC_INTERVAL_S = env_number("PARTNER_SYNC_INTERVAL_S", 300, int)
PARTNER_HTTP_TIMEOUT_S = env_number("PARTNER_HTTP_TIMEOUT_S", 10.0)

# Rentals
# Tagged on every node with the partner row's id; reconciliation only touches nodes carrying its own value.
# Empty: derived from SECRET_KEY (each installation has its own). Set it when two installations share one.
BROKER_INSTALLATION_ID = env_str("BROKER_INSTALLATION_ID", "")
RECONCILE_INTERVAL_S = env_number("RECONCILE_INTERVAL_S", 60, int)
SPOT_WATCH_S = env_number("SPOT_WATCH_S", 10.0)  # running spot nodes are described this often (preemptions)
PROVISION_TIMEOUT_S = env_number("PROVISION_TIMEOUT_S", 900, int)
JOB_LOG_RETENTION_DAYS = env_number("JOB_LOG_RETENTION_DAYS", 7, int)  # a job's logs, after it ends
PROVISION_RESUME_AFTER_S = env_number("PROVISION_RESUME_AFTER_S", 30, int)  # reconciliation resumes stalled work
PROVISION_POLL_S = env_number("PROVISION_POLL_S", 1.0)
# Partners that insist on an SSH key (Lambda) get this one when the user brings none. Its private half was
# discarded: nobody can log in with it, so such nodes are reachable only through the user's own key.
NODE_DEFAULT_SSH_PUBLIC_KEY = env_str(
    "NODE_DEFAULT_SSH_PUBLIC_KEY",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINBttsaegY1Yd+Xuj7uAnFIIiH7jMeUZJC1/bSJ7xe2m gpu-broker-no-login")
PROVISION_LEASE_S = env_number("PROVISION_LEASE_S", 60, int)  # a dead worker's claim on a rental expires
# Partners whose create call takes no user data get the plan over SSH once the node runs: tried this many times,
# waiting SSH_PLAN_BACKOFF_S doubled after each try (at most a minute) while the node's sshd is not up yet.
SSH_PLAN_ATTEMPTS = env_number("SSH_PLAN_ATTEMPTS", 15, int)
SSH_PLAN_BACKOFF_S = env_number("SSH_PLAN_BACKOFF_S", 2.0)
SSH_PLAN_TIMEOUT_S = env_number("SSH_PLAN_TIMEOUT_S", 20.0)  # connecting, logging in, handing the plan over
RENTAL_RATE_LIMIT_PER_MIN = env_number("RENTAL_RATE_LIMIT_PER_MIN", 120, int)
BUDGET_WARN_FRACTION = env_number("BUDGET_WARN_FRACTION", 0.8)

# Node health
HEARTBEAT_UNKNOWN_AFTER_S = env_number("HEARTBEAT_UNKNOWN_AFTER_S", 120, int)
HEARTBEAT_UNHEALTHY_AFTER_S = env_number("HEARTBEAT_UNHEALTHY_AFTER_S", 600, int)
NODE_GPU_BUSY_PCT = env_number("NODE_GPU_BUSY_PCT", 10.0)  # a GPU this busy means the node is in use

# Dev pods: JupyterLab's image, pinned by digest (a Jupyter Docker Stacks image, or one built on it)
POD_JUPYTER_IMAGE = env_str(
    "POD_JUPYTER_IMAGE",
    "docker.io/jupyter/base-notebook@sha256:8c903974902b0e9d45d9823c2234411de0614c5c98c4bb782b3d4f55b3e435e6")

# Fleets (a workspace's own machines)
FLEET_JOIN_TOKEN_TTL_S = env_number("FLEET_JOIN_TOKEN_TTL_S", 86400, int)  # a join token works this long
FLEET_MACHINE_OFFLINE_AFTER_S = env_number("FLEET_MACHINE_OFFLINE_AFTER_S", 90, int)  # silent this long: offline
FLEET_POLL_WAIT_MAX_S = env_number("FLEET_POLL_WAIT_MAX_S", 25, int)  # longest long poll an agent may ask for

# Inference gateway: API keys and routes are cached this long in each web process
GATEWAY_CACHE_TTL_S = env_number("GATEWAY_CACHE_TTL_S", 2.0)
API_KEY_CACHE_TTL_S = env_number("API_KEY_CACHE_TTL_S", 2.0)  # a key revoked elsewhere stops within this
# The network the gateway reaches nodes from (its egress/NAT address as a /32 in production): nodes open
# their NIM port to it only (AWS security group, Lambda firewall ruleset, Partner API `ports`).
GATEWAY_SOURCE_CIDR = env_str("GATEWAY_SOURCE_CIDR", "0.0.0.0/0")

PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
GATEWAY_PUBLIC_URL = env_str("GATEWAY_PUBLIC_URL", "")  # the gateway's /v1 URL when it is served apart; '' = PUBLIC_BASE_URL/v1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
