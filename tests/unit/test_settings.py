"""Settings: development works out of the box; production refuses to start without secrets."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from drop.settings import (
    DEV_RECEIPT_KEY,
    ApiSettings,
    MissingSecretError,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
    WeakSecretError,
    WorkerIdentitySettings,
)

SECRETS = (
    "ADMIN_SECRET",
    "PURCHASE_TOKEN_SECRET",
    "IP_HASH_SALT",
    "SESSION_SECRET",
    "NATS_USER",
    "NATS_PASSWORD",
    "RESTATE_IDENTITY_KEYS",
    "RECEIPT_SIGNING_KEY",
)
REQUIRED = ("ADMIN_SECRET", "PURCHASE_TOKEN_SECRET", "IP_HASH_SALT", "RECEIPT_SIGNING_KEY")


STRONG = {name: secrets.token_urlsafe(32) for name in SECRETS}
STRONG["RECEIPT_SIGNING_KEY"] = secrets.token_hex(32)
COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _value(name: str) -> str:
    return STRONG[name]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRETS, "DROP_ENV", "SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file from the working tree


def test_development_fills_every_secret() -> None:
    s = SecretSettings()
    assert s.admin_secret and s.purchase_token_secret and s.ip_hash_salt and s.session_secret
    assert s.session_secret != s.purchase_token_secret


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_names_the_missing_secret(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setenv("DROP_ENV", "production")
    for name in REQUIRED:
        if name != missing:
            monkeypatch.setenv(name, _value(name))
    with pytest.raises(MissingSecretError, match=missing):
        SecretSettings()


def test_production_with_every_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROP_ENV", "production")
    for name in REQUIRED:
        monkeypatch.setenv(name, _value(name))
    assert SecretSettings().admin_secret == STRONG["ADMIN_SECRET"]
    assert SecretSettings().receipt_signing_key == STRONG["RECEIPT_SIGNING_KEY"]


def test_a_malformed_receipt_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECEIPT_SIGNING_KEY", "not-hex")
    with pytest.raises(ValueError, match="RECEIPT_SIGNING_KEY must be 32 bytes of hex"):
        SecretSettings()


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_ADMISSION_RATE", "7.5")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("POW_DIFFICULTY", "2")
    assert QueueSettings().queue_admission_rate == 7.5
    api = ApiSettings()
    assert api.cors_origin_list == ["https://a.example", "https://b.example"]
    assert api.pow_difficulty == 2


def test_internal_credentials_are_optional_in_development() -> None:
    assert NatsAuthSettings().nats_user == ""
    assert WorkerIdentitySettings().key_list == []


@pytest.mark.parametrize("missing", ["NATS_USER", "NATS_PASSWORD"])
def test_production_requires_nats_credentials(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("DROP_ENV", "production")
    for name in ("NATS_USER", "NATS_PASSWORD"):
        if name != missing:
            monkeypatch.setenv(name, "value")
    with pytest.raises(MissingSecretError, match=missing):
        NatsAuthSettings()


def test_half_nats_credentials_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_USER", "drop")
    with pytest.raises(MissingSecretError, match="together"):
        NatsAuthSettings()


def test_production_requires_identity_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROP_ENV", "production")
    with pytest.raises(MissingSecretError, match="RESTATE_IDENTITY_KEYS"):
        WorkerIdentitySettings()


def test_identity_keys_are_a_checked_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTATE_IDENTITY_KEYS", "publickeyv1_abc, publickeyv1_def ,")
    assert WorkerIdentitySettings().key_list == ["publickeyv1_abc", "publickeyv1_def"]
    monkeypatch.setenv("RESTATE_IDENTITY_KEYS", "ssh-ed25519 AAAA")
    with pytest.raises(MissingSecretError, match="not a publickeyv1_ key"):
        WorkerIdentitySettings()


def test_server_lists_and_replicas_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from drop.settings import ConnectionSettings, url_list

    monkeypatch.setenv("NATS_URL", "nats://a:4222, nats://b:4222,,nats://c:4222")
    monkeypatch.setenv("NATS_REPLICAS", "3")
    settings = ConnectionSettings()
    assert url_list(settings.nats_url) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert settings.nats_replicas == 3
    monkeypatch.setenv("NATS_REPLICAS", "0")
    with pytest.raises(ValueError):
        ConnectionSettings()
    monkeypatch.delenv("NATS_REPLICAS")
    assert ConnectionSettings().nats_replicas == 1


def _production(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.setenv("DROP_ENV", "production")
    for name in REQUIRED:
        monkeypatch.setenv(name, _value(name))
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)


def _compose_defaults() -> list[tuple[str, str]]:
    """Every `${SECRET:-default}` docker-compose.yml publishes for a secret."""
    found = re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", COMPOSE.read_text())
    return sorted({(n, d) for n, d in found if n in SECRETS and n != "NATS_USER"})


@pytest.mark.parametrize("name", ["ADMIN_SECRET", "PURCHASE_TOKEN_SECRET", "IP_HASH_SALT",
                                  "SESSION_SECRET"])  # fmt: skip
@pytest.mark.parametrize("weak", ["x", "short-but-not-random", "ab" * 20, "a" * 64])
def test_production_refuses_a_weak_secret_and_names_it(
    monkeypatch: pytest.MonkeyPatch, name: str, weak: str
) -> None:
    _production(monkeypatch, **{name: weak})
    with pytest.raises(WeakSecretError, match=name):
        SecretSettings()


def test_compose_publishes_defaults_and_production_refuses_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published = _compose_defaults()
    assert {n for n, _ in published} >= {"ADMIN_SECRET", "IP_HASH_SALT", "NATS_PASSWORD"}
    for name, default in published:
        # Padded to a length that would pass: a published value inside is still refused.
        for value in (default, f"{default}-{secrets.token_urlsafe(24)}"):
            _production(monkeypatch, **{name: value})
            monkeypatch.setenv("NATS_USER", "drop")
            monkeypatch.setenv("NATS_PASSWORD", value if name == "NATS_PASSWORD" else _value(name))
            settings = NatsAuthSettings if name == "NATS_PASSWORD" else SecretSettings
            with pytest.raises(WeakSecretError, match=f"{name} is a published"):
                settings()


@pytest.mark.parametrize("key", [DEV_RECEIPT_KEY, "00" * 32, "0123456789abcdef" * 4])
def test_production_refuses_the_development_or_a_patterned_receipt_key(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    _production(monkeypatch, RECEIPT_SIGNING_KEY=key)
    with pytest.raises(WeakSecretError, match="RECEIPT_SIGNING_KEY"):
        SecretSettings()


def test_the_development_fallbacks_themselves_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev = SecretSettings()
    for name in ("ADMIN_SECRET", "PURCHASE_TOKEN_SECRET", "IP_HASH_SALT"):
        _production(monkeypatch, **{name: getattr(dev, name.lower())})
        with pytest.raises(WeakSecretError, match=name):
            SecretSettings()
        monkeypatch.setenv(name, _value(name))


def test_development_and_test_accept_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_SECRET", "x")
    assert SecretSettings().admin_secret == "x"
    monkeypatch.setenv("DROP_ENV", "test")
    assert SecretSettings().admin_secret == "x"


def test_session_cookies_are_secure_by_default_only_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ApiSettings().cookie_secure is False
    monkeypatch.setenv("DROP_ENV", "production")
    assert ApiSettings().cookie_secure is True
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    assert ApiSettings().cookie_secure is False
    monkeypatch.setenv("DROP_ENV", "development")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    assert ApiSettings().cookie_secure is True
