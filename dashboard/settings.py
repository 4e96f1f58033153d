"""Settings for the RunPod job dashboard.

Everything comes from environment variables with safe defaults (see `.env.example`): DEBUG is off unless set,
SQLite unless DATABASE_URL, Redis at REDIS_URL. Any variable can also be read from a file named by VAR_FILE, so
secrets can come from Docker or Kubernetes secret mounts.
"""

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    """Return VAR, or the contents of the file named by VAR_FILE, or the default."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name, default):
    return env(name, "yes" if default else "no").strip().lower() in ("1", "yes", "true", "on")


def envint(name, default):
    return int(env(name, str(default)))


def envfloat(name, default):
    return float(env(name, str(default)))


def private_dir(path: Path) -> Path:
    """A directory only this user can enter (0700): var/ holds the SQLite database (sessions in it are enough to
    become anyone), the secret key, the embedded broker's messages and the demo logins."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not ours (a mounted volume): its owner decides
        path.chmod(0o700)
    return path


VAR_DIR = private_dir(BASE_DIR / "var")


def _local_secret_key():
    """A random key kept in var/secret_key, so a single-machine install is never left on a known key.

    Several machines sharing one database must all set the same SECRET_KEY (it also derives the key that
    encrypts API keys at rest unless FIELD_ENCRYPTION_KEY is set).
    """
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = envbool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY") or _local_secret_key()

ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SITE_NAME = env("SITE_NAME", "RunPod job dashboard")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "django_celery_beat",
    "axes",
    "ninja",
    "jobs",
    "api",
    "alerts",
    "simulator",
    "proxy",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a body (CSRF reads form POSTs): REQUEST_BODY_LIMITS below.
    "dashboard.middleware.RequestBodyLimitMiddleware",
    # CONTENT_SECURITY_POLICY and Cache-Control: private, no-store on every response a view makes.
    "dashboard.middleware.ResponseHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a throttled login (on the site's form or the admin's) into the login page with the reason.
    "axes.middleware.AxesMiddleware",
]
# RunPod's endpoint API (/v2/, the proxy) runs through these only (dashboard/wsgi.py): its callers are scripts
# with a Bearer token, checked by each view, so the session, CSRF, login and page middleware above have nothing to
# do there but cost CPU on every call.
PROXY_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dashboard.middleware.RequestBodyLimitMiddleware",
    "dashboard.middleware.ResponseHeadersMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.site",
            ],
            # Partials as a builtin: no {% load %} needed, and Django 6's built-in partials replace it by deletion.
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
        },
    }
]

# Databases: SQLite in var/ unless DATABASE_URL. DJANGO_DB_NAME overrides the name so a Celery worker started by
# the tests can share the test database.
# (SQLite files are made 0600 when a connection opens them: dashboard/apps.py.)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and a busy timeout let the web process, worker and beat share one SQLite file.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["TEST"] = {"NAME": env("SQLITE_TEST_NAME", str(BASE_DIR / "var" / "test.sqlite3"))}
elif env("DATABASE_TEST_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("DATABASE_TEST_NAME")}
if env("DJANGO_DB_NAME"):
    DATABASES["default"]["NAME"] = env("DJANGO_DB_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Every login path goes through authenticate(), where django-axes refuses a throttled (username, address) pair first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "dashboard.sso.PasswordLoginSwitchBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
# Username-and-password sign-in (the login form and the admin's); off leaves only single sign-on.
PASSWORD_LOGIN = envbool("PASSWORD_LOGIN", True)
# Single sign-on through one OpenID Connect provider (dashboard/sso.py), on when OIDC_RP_CLIENT_ID is set.
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "SSO")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER").rstrip("/")
# Each endpoint defaults to the usual path under the issuer; set them when the provider's discovery says otherwise.
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", f"{OIDC_OP_ISSUER}/auth")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", f"{OIDC_OP_ISSUER}/token")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", f"{OIDC_OP_ISSUER}/me")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", f"{OIDC_OP_ISSUER}/jwks")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_USE_PKCE = True
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
# "provider-group=Role,…" with Role one of Viewers, Operators, Admins; the highest of a user's mapped groups wins.
OIDC_ROLE_MAP = env("OIDC_ROLE_MAP", "dashboard-admins=Admins,dashboard-operators=Operators,dashboard-viewers=Viewers")
# The role of someone in none of the mapped groups; empty refuses them.
OIDC_DEFAULT_ROLE = env("OIDC_DEFAULT_ROLE", "")
OIDC_AUTHENTICATION_CALLBACK_URL = "sso_callback"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", 10)
if OIDC_RP_CLIENT_ID:
    if not OIDC_OP_ISSUER and not env("OIDC_OP_AUTHORIZATION_ENDPOINT"):
        raise ImproperlyConfigured("OIDC_RP_CLIENT_ID is set: set OIDC_OP_ISSUER (or each OIDC_OP_*_ENDPOINT) too.")
    _roles = {"Viewers", "Operators", "Admins", ""}
    if OIDC_DEFAULT_ROLE not in _roles or any(
        p.partition("=")[2].strip() not in _roles - {""} for p in OIDC_ROLE_MAP.split(",") if p.strip()
    ):
        raise ImproperlyConfigured("OIDC_ROLE_MAP is provider-group=Role,… and roles are Viewers, Operators, Admins.")
    AUTHENTICATION_BACKENDS.append("dashboard.sso.RoleMappingOIDCBackend")
# Failed logins allowed for one username from one client address; then that pair waits LOGIN_RATE_WINDOW seconds
# (each further failure restarts the wait). The same username from another address is not slowed.
LOGIN_RATE_LIMIT = envint("LOGIN_RATE_LIMIT", 5)
LOGIN_RATE_WINDOW = envint("LOGIN_RATE_WINDOW", 300)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "dashboard.security.login_failure_limit"
AXES_COOLOFF_TIME = "dashboard.security.login_cool_off"
AXES_USERNAME_CALLABLE = "dashboard.security.login_username"
AXES_CLIENT_IP_CALLABLE = "dashboard.security.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.security.login_throttled"
AXES_RESET_ON_SUCCESS = True
# Logins and failed logins are in our own audit log; axes keeps only its counters.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Addresses (or CIDR ranges) of the reverse proxies in front of the web server. Only from these is
# X-Forwarded-For read for the client's address (login throttle, audit log); never from anyone else.
TRUSTED_PROXIES = [p.strip() for p in env("TRUSTED_PROXIES", "").split(",") if p.strip()]
# Request bodies: the largest accepted per path prefix (longest prefix wins), checked by Content-Length before
# anything reads the body, and how a bigger one is answered: "json" (a JSON 413 for API clients and RunPod),
# "html" (a plain 413), or a view's own function(request, limit). A new route with bodies adds its prefix here;
# CONTENT_SECURITY_POLICY and Cache-Control apply to every route without a table (dashboard/middleware.py).
SUBMIT_MAX_BYTES = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 22 * 1024 * 1024)  # RunPod's 20 MB /runsync plus form
REQUEST_BODY_LIMITS = {
    "/jobs/new/": (SUBMIT_MAX_BYTES, "dashboard.views.actions.submit_too_big"),
    # RunPod's largest result body is bounded by its own limits; refuse anything far beyond them.
    "/hooks/runpod/": (25 * 1024 * 1024, "json"),
    # None: the view bounds its own bodies in its own error shape (CSRF-exempt, so nothing reads them first):
    # the API's JSON 413 (RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE), the proxy's RunPod-shaped one.
    "/api/": (None, "view"),
    "/v2/": (None, "view"),
}
REQUEST_BODY_DEFAULT_LIMIT = envint("REQUEST_BODY_DEFAULT_LIMIT", 2_621_440)  # Django's own default, 2.5 MB
# Django's own check is only the ceiling; the table above decides.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(limit for limit, _ in REQUEST_BODY_LIMITS.values() if limit)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Production hardening; behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER via SECURE_PROXY=1.
SECURE_COOKIES = envbool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# No script reads the CSRF cookie: pages put the token in the form and in <body hx-headers>.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
# Only with every subdomain on HTTPS too (check --deploy warns without them once HSTS is on).
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Images in job outputs that live on other hosts are not loaded unless this is on: loading one tells whoever wrote
# the worker's output (any image URL it returns) each viewer's address, browser and when they looked, and the
# CSP would have to allow images from anywhere. Off, such an image is a link the viewer may choose to open.
OUTPUT_REMOTE_IMAGES = envbool("OUTPUT_REMOTE_IMAGES", False)
# Scripts and everything else only from this site; no inline scripts or handlers, no eval (htmx runs with
# allowEval off). Inline style attributes are allowed (bar widths); they cannot run code. With OUTPUT_REMOTE_IMAGES
# on, img-src also allows http(s) images from anywhere (added per response).
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
X_FRAME_OPTIONS = "DENY"
if envbool("SECURE_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", env("REDIS_URL", "redis://127.0.0.1:6379/0")),
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "rpdash"),
    }
    if envbool("USE_REDIS_CACHE", bool(env("REDIS_URL")))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Celery: JSON only, late acks so a killed worker's task is redelivered, and hard limits so nothing hangs.
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 150)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "dashboard")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redelivery of an unacked task after a lost worker; must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 300)}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker `make run` falls back to when no Redis answers: message files in var/, one machine only.
    # (kombu's SQLAlchemy transport on SQLite stalls once forked pool processes publish: see docs/operations.md.)
    _broker_dir = Path(env("CELERY_BROKER_DIR", str(VAR_DIR / "celery-broker")))
    for _sub in ("queues", "control"):
        private_dir(_broker_dir / _sub)
    # kombu writes each message file with the process's umask: keep them to this user (0600) as well.
    os.umask(os.umask(0o077) | 0o077)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queues"),
        "data_folder_out": str(_broker_dir / "queues"),
        "control_folder": str(_broker_dir / "control"),
        # Seconds between looks into an empty queue: a directory listing is cheap, and the default 1 s is slow.
        "polling_interval": 0.1,
    }
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The beat schedule; django-celery-beat copies it into the database, where the admin can change the intervals.
CELERY_BEAT_SCHEDULE = {
    # Jobs and streams: due jobs only, nearest to losing their result first; each run is short and locked.
    # A tick that waited longer than its period in the queue is dropped: the next one does the same work.
    "poll-due-jobs": {
        "task": "jobs.tasks.poll_tick",
        "schedule": envfloat("POLL_TICK_SECONDS", 2.0),
        "options": {"expires": 10},
    },
    # /health for every enabled endpoint: the workers and queue time series.
    "snapshot-health": {
        "task": "jobs.tasks.health_tick",
        "schedule": envfloat("HEALTH_TICK_SECONDS", 10.0),
        "options": {"expires": 20},
    },
    # Our own retention; a no-op unless JOB_RETENTION_DAYS / SNAPSHOT_RETENTION_DAYS are set.
    "prune-history": {"task": "jobs.tasks.prune_tick", "schedule": 3600.0},
    # Alerts: error groups from new failures, every rule, firing and resolving; deliveries go out as their own tasks.
    "evaluate-alerts": {
        "task": "alerts.tasks.alerts_tick",
        "schedule": envfloat("ALERT_TICK_SECONDS", 5.0),
        "options": {"expires": 30},
    },
}

# RunPod and polling.
RUNPOD_BASE_URL = env("RUNPOD_BASE_URL", "https://api.runpod.ai/v2")
# Key used to encrypt endpoint API keys at rest; defaults to one derived from SECRET_KEY.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", "")
POLL_BATCH_SIZE = envint("POLL_BATCH_SIZE", 500)
POLL_CONCURRENCY = envint("POLL_CONCURRENCY", 64)
# Endpoints one poll task holds at once; overlapping ticks (and other workers) take the rest.
POLL_ENDPOINTS_PER_ROUND = envint("POLL_ENDPOINTS_PER_ROUND", 10)
# How long one poll task keeps claiming batches for an endpoint before yielding to the next tick.
POLL_TASK_BUDGET_SECONDS = envfloat("POLL_TASK_BUDGET_SECONDS", 8.0)
# A claimed job is someone else's to poll until this lease runs out; a killed worker's jobs come back after it.
POLL_LEASE_SECONDS = envint("POLL_LEASE_SECONDS", 20)
# Share of the documented rate limits the poller lets itself use, leaving room for actions and other tools.
RATE_LIMIT_SHARE = envfloat("RATE_LIMIT_SHARE", 0.9)
RUNPOD_TIMEOUT_SECONDS = envfloat("RUNPOD_TIMEOUT_SECONDS", 15.0)
RUNSYNC_WAIT_MS = envint("RUNSYNC_WAIT_MS", 90_000)
# A job claimed for sending but still without a RunPod id this long after: its worker died mid-send, and since RunPod
# may have it, it is marked SUBMIT_FAILED with that reason rather than sent again. Longer than any send can take.
SEND_STUCK_SECONDS = envint("SEND_STUCK_SECONDS", 300)
STREAM_WAIT_MS = envint("STREAM_WAIT_MS", 1_000)
# `manage.py health worker NAME` fails when beat kept sending poll ticks this long past the worker's last one (a
# worker that stopped consuming); `health beat` when beat sent none for this long. Longer than the longest a busy
# worker may go without taking a tick: a /runsync send holds a slot up to RUNSYNC_WAIT_MS.
HEARTBEAT_STALE_SECONDS = envfloat("HEARTBEAT_STALE_SECONDS", 180.0)
# The RunPod-compatible proxy (/v2/..., docs/proxy.md). Share of each documented limit its callers may use,
# counting the poller's calls too (the poller keeps to RATE_LIMIT_SHARE counting the proxy's, so callers come first).
PROXY_RATE_LIMIT_SHARE = envfloat("PROXY_RATE_LIMIT_SHARE", 1.0)
# A /runsync, /status-sync or /stream held open at RunPod keeps a web thread: at most this many per process wait
# at once, each at most PROXY_WAIT_MAX_MS; the rest get RunPod's shortest wait (1 s) and the caller polls again.
PROXY_WAIT_SLOTS = envint("PROXY_WAIT_SLOTS", 2)
PROXY_WAIT_MAX_MS = envint("PROXY_WAIT_MAX_MS", 10_000)
# How long a caller reading a stream keeps the poller off it after its last read (then the poller takes over).
PROXY_STREAM_LEASE_SECONDS = envint("PROXY_STREAM_LEASE_SECONDS", 15)
# Connections the proxy keeps open to RunPod per web process.
PROXY_MAX_CONNECTIONS = envint("PROXY_MAX_CONNECTIONS", 20)
# Seconds a web process remembers a token's owner and role and an endpoint's row (0: read them on every call); a
# revoked token or a disabled endpoint is refused by every process within this long (at once by the one that saved).
PROXY_LOOKUP_CACHE_SECONDS = envfloat("PROXY_LOOKUP_CACHE_SECONDS", 5.0)
# Bulk actions over a jobs-list filter: more jobs than the threshold need the count typed to confirm; at most
# BULK_MAX_JOBS per action; one task works on a batch this many seconds, then hands it to the next task.
BULK_CONFIRM_THRESHOLD = envint("BULK_CONFIRM_THRESHOLD", 100)
BULK_MAX_JOBS = envint("BULK_MAX_JOBS", 50_000)
BULK_TASK_SECONDS = envfloat("BULK_TASK_SECONDS", 60.0)
# Jobs a bulk action acts on at once (threads of its task; RunPod takes 20 cancels at once); 0: in the task's thread.
BULK_CONCURRENCY = envint("BULK_CONCURRENCY", 8)
# Our own retention: 0 keeps everything.
JOB_RETENTION_DAYS = envint("JOB_RETENTION_DAYS", 0)
SNAPSHOT_RETENTION_DAYS = envint("SNAPSHOT_RETENTION_DAYS", 0)

# The JSON API (/api/v1/): requests allowed per token (or logged-in user) in each API_RATE_WINDOW seconds; 0: no limit.
API_RATE_LIMIT = envint("API_RATE_LIMIT", 600)
API_RATE_WINDOW = envint("API_RATE_WINDOW", 60)
# /metrics answers a bearer token equal to METRICS_TOKEN, or clients in METRICS_ALLOWED_IPS (addresses or networks,
# comma-separated); with neither set it answers nobody.
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = [a.strip() for a in env("METRICS_ALLOWED_IPS", "").split(",") if a.strip()]

# Demo mode (make run): a demo endpoint on the local simulator and a trickle of demo jobs.
DEMO_MODE = envbool("DEMO_MODE", False)
SIMULATOR_URL = env("SIMULATOR_URL", "http://127.0.0.1:8765/v2")
# Real mode of `make run`: track these endpoints (comma-separated ids) on RUNPOD_BASE_URL with this key.
RUNPOD_API_KEY = env("RUNPOD_API_KEY")
RUNPOD_ENDPOINT_IDS = [i.strip() for i in env("RUNPOD_ENDPOINT_IDS").split(",") if i.strip()]

# Alerts (docs/operations.md): links in messages start with SITE_URL; a condition must stay clear this long before its
# alert resolves (no flapping); failed deliveries are retried with doubling waits, then given up.
SITE_URL = env("SITE_URL", "http://localhost:8000")
ALERT_HOLD_DOWN_SECONDS = envfloat("ALERT_HOLD_DOWN_SECONDS", 30.0)
ALERT_POLL_STALL_SECONDS = envfloat("ALERT_POLL_STALL_SECONDS", 60.0)
ALERT_CHANNEL_TIMEOUT_SECONDS = envfloat("ALERT_CHANNEL_TIMEOUT_SECONDS", 10.0)
ALERT_RETRY_BASE_SECONDS = envfloat("ALERT_RETRY_BASE_SECONDS", 5.0)
ALERT_RETRY_MAX_SECONDS = envfloat("ALERT_RETRY_MAX_SECONDS", 600.0)
ALERT_DELIVERY_MAX_ATTEMPTS = envint("ALERT_DELIVERY_MAX_ATTEMPTS", 10)
# Email alerts go through Django's SMTP backend.
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "alerts@localhost")

LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
