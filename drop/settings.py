"""Configuration read from the environment (and a `.env` file), one class per concern.

Nothing here is instantiated at import time: each app's entry point builds the settings it
needs and passes them down, so tests can build apps with other settings.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from drop.domain.pow import MAX_DIFFICULTY
from drop.secret_rules import DEV_RECEIPT_KEY as DEV_RECEIPT_KEY
from drop.secret_rules import DEV_SECRET as DEV_SECRET
from drop.secret_rules import MissingSecretError as MissingSecretError
from drop.secret_rules import WeakSecretError as WeakSecretError
from drop.secret_rules import refuse_weak, require_in_production

DEFAULT_METRICS_PORT = 9091

_COMMON = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


def url_list(urls: str) -> list[str]:
    """The servers in a comma-separated list of URLs, in order."""
    return [u.strip() for u in urls.split(",") if u.strip()]


class RuntimeSettings(BaseSettings):
    """Where this process runs and how it logs."""

    model_config = _COMMON

    drop_env: Literal["development", "production", "test"] = "development"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int | None = None
    # Addresses whose X-Forwarded-For is believed (the web proxy); comma separated.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Server processes per app (api, sse, web): one per core where the machine has several.
    workers: int = Field(default=1, ge=1, le=64)

    @property
    def production(self) -> bool:
        return self.drop_env == "production"


class ApiServerSettings(BaseSettings):
    """How granian runs each api process (drop.serve.granian_runtime). The defaults are
    granian's own; docs/benchmarks.md ("The api's server runtime") has what the others cost.
    """

    model_config = _COMMON

    # auto is mt for ASGI (one multi-threaded Tokio runtime); st: single-threaded runtimes.
    api_runtime_mode: Literal["auto", "st", "mt"] = "auto"
    # Tokio threads doing one process's network I/O.
    api_runtime_threads: int = Field(default=1, ge=1, le=16)


class ConnectionSettings(BaseSettings):
    """Addresses of the servers and services this process talks to."""

    model_config = _COMMON

    # Either may list several servers of one cluster, comma separated: clients move to
    # another when one fails.
    nats_url: str = "nats://127.0.0.1:4222"
    restate_ingress_url: str = "http://127.0.0.1:8080"
    # Copies JetStream keeps of each stream, bucket and object store: 1 on one server, 3 on a
    # cluster (the layout is created by whichever service connects first).
    nats_replicas: int = Field(default=1, ge=1, le=5)
    restate_admin_url: str = "http://127.0.0.1:9070"
    internal_api_url: str = "http://127.0.0.1:3003"
    internal_sse_url: str = "http://127.0.0.1:3004"
    worker_url: str = "http://127.0.0.1:9080"
    restate_timeout_seconds: float = 30.0


class SecretSettings(BaseSettings):
    """Secrets. Development gets a loud default; production refuses to start without them."""

    model_config = _COMMON

    drop_env: Literal["development", "production", "test"] = "development"
    admin_secret: str = ""
    purchase_token_secret: str = ""
    ip_hash_salt: str = ""
    session_secret: str = ""
    # Ed25519 seed (32 bytes, hex) signing entry receipts; its public key is published.
    receipt_signing_key: str = ""

    @model_validator(mode="after")
    def _fill_or_refuse(self) -> SecretSettings:
        for name in ("admin_secret", "purchase_token_secret", "ip_hash_salt"):
            if getattr(self, name):
                continue
            if self.drop_env == "production":
                raise MissingSecretError(
                    f"{name.upper()} must be set when DROP_ENV=production; refusing to start"
                )
            setattr(self, name, f"{DEV_SECRET}-{name}")
        if not self.receipt_signing_key:
            if self.drop_env == "production":
                raise MissingSecretError(
                    "RECEIPT_SIGNING_KEY must be set when DROP_ENV=production; refusing to start"
                )
            self.receipt_signing_key = DEV_RECEIPT_KEY
        try:
            if len(bytes.fromhex(self.receipt_signing_key)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError(
                "RECEIPT_SIGNING_KEY must be 32 bytes of hex (64 characters)"
            ) from None
        if self.drop_env == "production":
            for name in _STRONG_SECRETS:
                if getattr(self, name):
                    refuse_weak(name.upper(), getattr(self, name))
        if not self.session_secret:
            # Sessions are signed with the purchase-token secret unless given their own.
            self.session_secret = f"session:{self.purchase_token_secret}"
        return self


_STRONG_SECRETS = (
    "admin_secret",
    "purchase_token_secret",
    "ip_hash_salt",
    "session_secret",
    "receipt_signing_key",
)


class NatsAuthSettings(BaseSettings):
    """Credentials every NATS connection presents (nats-server runs with user/password auth).

    Empty in development means an anonymous connection; production refuses to start without
    them."""

    model_config = _COMMON

    drop_env: Literal["development", "production", "test"] = "development"
    nats_user: str = ""
    nats_password: str = ""

    @model_validator(mode="after")
    def _refuse_half_or_missing(self) -> NatsAuthSettings:
        require_in_production(
            self.drop_env, nats_user=self.nats_user, nats_password=self.nats_password
        )
        if bool(self.nats_user) != bool(self.nats_password):
            raise MissingSecretError("NATS_USER and NATS_PASSWORD must be set together")
        if self.drop_env == "production":
            refuse_weak("NATS_PASSWORD", self.nats_password)
        return self


class WorkerIdentitySettings(BaseSettings):
    """Restate's request-identity public keys the worker checks every call against.

    RESTATE_IDENTITY_KEYS is a comma-separated list of `publickeyv1_...` keys (several while
    rotating). Empty in development means unchecked; production refuses to start without."""

    model_config = _COMMON

    drop_env: Literal["development", "production", "test"] = "development"
    restate_identity_keys: str = ""

    @model_validator(mode="after")
    def _refuse_missing_or_malformed(self) -> WorkerIdentitySettings:
        require_in_production(self.drop_env, restate_identity_keys=self.restate_identity_keys)
        for key in self.key_list:
            if not key.startswith("publickeyv1_"):
                raise MissingSecretError(
                    f"RESTATE_IDENTITY_KEYS: {key[:16]!r}... is not a publickeyv1_ key"
                )
        return self

    @property
    def key_list(self) -> list[str]:
        return [k.strip() for k in self.restate_identity_keys.split(",") if k.strip()]


class DropPolicySettings(BaseSettings):
    """Limits on drop configuration enforced by the worker."""

    model_config = _COMMON

    # Tests and demos run a whole drop in seconds; production keeps the 60 s floor
    # (docs/contract.md, Drops).
    min_purchase_window: int = Field(default=60, ge=1)


class ApiSettings(BaseSettings):
    """Behaviour of the public REST API."""

    model_config = _COMMON

    cors_origins: str = "http://localhost:3000,http://127.0.0.1:3000"
    pow_difficulty: int = Field(default=4, ge=0, le=MAX_DIFFICULTY)
    pow_challenge_ttl_seconds: int = 300
    min_trust_score: float = Field(default=50.0, ge=0, le=100)
    rate_limit_window_seconds: int = 60
    rate_limit_default: int = 10
    rate_limit_register: int = 5
    skip_rate_limit: bool = False
    # Load tests only: registration without proof-of-work and trust score (logged loudly).
    bot_check_enabled: bool = True
    session_cookie_name: str = "drop_session"
    # Unset: Secure in production (served over https only), not in development.
    drop_env: Literal["development", "production", "test"] = "development"
    session_cookie_secure: bool | None = None
    # A session must outlive the drops it was made for (registration, draw, purchase window,
    # backup promotions); a lost one is recovered with the claim secret.
    session_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Wrong admin secrets (bearer or console login) per hashed IP, and from everyone, per
    # RATE_LIMIT_WINDOW_SECONDS; past either every admin attempt is 429 until the window ends.
    admin_failures_per_ip: int = Field(default=10, ge=1)
    admin_failures_global: int = Field(default=100, ge=1)

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is None:
            return self.drop_env == "production"
        return self.session_cookie_secure

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


class QueueSettings(BaseSettings):
    """The waiting room in front of registration."""

    model_config = _COMMON

    queue_enabled: bool = True
    queue_admission_rate: float = Field(default=20.0, gt=0)
    queue_max_concurrent: int = Field(default=50, ge=1)
    # A token lives at most max age + ready window: both bounded so that stays inside the
    # two hours its mirror (the queue_tokens bucket) keeps it.
    queue_ready_window: int = Field(default=30, ge=1, le=3600, description="seconds")
    queue_max_age: float = Field(default=10.0, gt=0, le=60, description="minutes")
    queue_min_behavior_score: float = Field(default=30.0, ge=0, le=100)
    queue_max_per_fingerprint: int = 1
    queue_max_per_ip: int = 3


class SseSettings(BaseSettings):
    """Event streams."""

    model_config = _COMMON

    sse_heartbeat_seconds: float = 15.0
    sse_retry_ms: int = 3000
    sse_max_connections: int = 20000
    # Events a stream may have waiting unsent (its client not reading) before it is cut off.
    sse_client_buffer: int = 256
    sse_drops_coalesce_ms: int = 200
    # Each missed event is one JetStream read on reconnect: a small bound keeps a reconnect
    # storm cheap, and the snapshot sent past it is just as correct.
    sse_replay_limit: int = Field(
        default=100, ge=1, le=10_000, description="past this many missed events, send a snapshot"
    )
    sse_max_streams_per_ip: int = Field(
        default=20, ge=1, description="open streams one client address may hold (429 past it)"
    )
    sse_retry_after_seconds: int = Field(default=5, ge=1, description="503 hint past the cap")


class WebSettings(BaseSettings):
    """The server-rendered site."""

    model_config = _COMMON

    # First paints of / and /drop/{id} share one API call per path for this long (0: off);
    # the page's live stream corrects anything older within a moment of loading.
    web_page_cache_seconds: float = Field(default=1.0, ge=0, le=30)


class MailSettings(BaseSettings):
    """Email to people who gave an address. No SMTP_URL: mail is off (addresses are still
    kept, so turning it on later reaches everyone who opted in)."""

    model_config = _COMMON

    # smtp://user:password@host:port (port 587 and STARTTLS by default), or smtps://... for
    # TLS from the first byte (port 465). User and password are URL-encoded.
    smtp_url: str = ""
    # auto: STARTTLS when the server offers it (smtp://), TLS for smtps://; starttls: refuse
    # a server without it; none: plain text (a local test server only).
    smtp_security: Literal["auto", "starttls", "tls", "none"] = "auto"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Open connections to the SMTP server the worker sends through at once.
    smtp_connections: int = Field(default=8, ge=1, le=100)
    mail_from: str = "Product Drop <drops@localhost>"
    # The site's address as people reach it: links in mail (sign-in, unsubscribe) start here.
    public_url: str = "http://localhost:3000"

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_url)

    @property
    def site(self) -> str:
        return self.public_url.rstrip("/")

    @model_validator(mode="after")
    def _known_scheme(self) -> MailSettings:
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        return self


class WorkerVersionSettings(BaseSettings):
    """Which build of the worker this process is. Each build is registered with Restate at
    its own URL, `<worker>/v/<version>`, so invocations begun on one build finish on it
    (drop/deployments.py). Empty: the worker answers Restate only at its root."""

    model_config = _COMMON

    worker_version: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,64}$")


WorkerRole = Literal["all", "drops", "notifications"]


class WorkerRoleSettings(BaseSettings):
    """Which services this worker process serves. `all` (the default): every one. A
    deployment can instead run `drops` (the drop's handlers) in one process and
    `notifications` (mail and webhooks: their services and their two feeds) in another, each
    registered with Restate as a deployment of its own, so mail never queues the draw."""

    model_config = _COMMON

    worker_role: WorkerRole = "all"

    @property
    def runs_drops(self) -> bool:
        return self.worker_role in ("all", "drops")

    @property
    def runs_notifications(self) -> bool:
        return self.worker_role in ("all", "notifications")


class BeaconSettings(BaseSettings):
    """The public randomness beacon every drop commits to: a drand chain (HTTP API).

    The defaults are drand's League of Entropy mainnet; `make dev` and the tests run a
    local test chain (devtools.devbeacon) and set all of these."""

    model_config = _COMMON

    beacon_chain_hash: str = "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce"
    beacon_public_key: str = (
        "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a5699"
        "37c529eeda66c7293784a9402801af31"
    )
    beacon_genesis: int = Field(default=1595431050, ge=0, description="seconds since the epoch")
    beacon_period: int = Field(default=30, ge=1, description="seconds between rounds")
    beacon_scheme: Literal["pedersen-bls-chained", "pedersen-bls-unchained"] = (
        "pedersen-bls-chained"
    )
    # Comma separated; each answers GET {url}/{chainhash}/public/{round}.
    beacon_urls: str = "https://api.drand.sh,https://drand.cloudflare.com"
    # Past the round's time plus this, the draw falls back to no beacon (recorded loudly).
    beacon_max_wait_seconds: float = Field(default=600.0, ge=0, le=86_400)
    beacon_retry_seconds: float = Field(default=5.0, gt=0, le=600)
    beacon_fetch_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @property
    def url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.beacon_urls.split(",") if u.strip()]


class TracingSettings(BaseSettings):
    """OpenTelemetry export (the standard variable names). No endpoint: tracing is off."""

    model_config = _COMMON

    otel_exporter_otlp_endpoint: str = Field(
        default="", description="OTLP/HTTP collector base URL, e.g. http://collector:4318"
    )
    otel_service_name: str = Field(default="", description="defaults to drop-<service>")


class MetricsSettings(BaseSettings):
    """Prometheus metrics. Off: no request middleware and no metrics port on api, sse,
    web and worker (the overhead bench's baseline; business counters still count)."""

    model_config = _COMMON

    metrics_enabled: bool = True
    # `/metrics` is answered here only, on HOST, never on the public PORT: keep this port
    # off the public network (Fly's [metrics] scrapes it over the private one). Services
    # sharing a machine (make dev) each need their own.
    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=1, le=65535)
    # Where the web's operator console reads the api's metrics. Empty: INTERNAL_API_URL's
    # host on the default METRICS_PORT (the api's own on Fly and in compose).
    internal_api_metrics_url: str = ""

    def api_metrics_url(self, internal_api_url: str) -> str:
        if self.internal_api_metrics_url:
            return self.internal_api_metrics_url.rstrip("/")
        host = urlsplit(url_list(internal_api_url)[0]).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{DEFAULT_METRICS_PORT}"


class WebhookSettings(BaseSettings):
    """Webhooks (Standard Webhooks): where their URLs may point and how deliveries retry."""

    model_config = _COMMON

    # Off, an endpoint must resolve to public addresses only (checked when it is added and
    # again at every connection); on for local development and tests.
    webhook_allow_private_urls: bool = False
    # A delivery is retried with exponential backoff for this long, then the endpoint is
    # disabled and an alarm raised.
    webhook_retry_for_seconds: float = Field(default=24 * 3600, gt=0, le=7 * 24 * 3600)
    # The longest gap between two attempts: an endpoint that comes back gets its backlog
    # within about this long.
    webhook_max_backoff_seconds: float = Field(default=30.0, ge=1, le=3600)
    # One attempt (connect, send, read at most a few KiB of the answer) ends after this.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The site's public address, for the links in payloads (the proof URL).
    public_url: str = "http://localhost:3000"
