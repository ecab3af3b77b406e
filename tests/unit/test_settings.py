"""Settings: development works out of the box; production refuses to start without secrets."""

from __future__ import annotations

import pytest

from drop.settings import (
    ApiSettings,
    MissingSecretError,
    NatsAuthSettings,
    QueueSettings,
    SecretSettings,
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


def _value(name: str) -> str:
    return "ab" * 32 if name == "RECEIPT_SIGNING_KEY" else f"{name}-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRETS, "DROP_ENV"):
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
    assert SecretSettings().admin_secret == "ADMIN_SECRET-value"
    assert SecretSettings().receipt_signing_key == "ab" * 32


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
