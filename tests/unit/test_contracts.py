import json
import time

import pytest
from pydantic import ValidationError

from apps.sse import frames
from drop.contracts import (
    PARTICIPANT_STATUSES,
    DropConfig,
    QueueHeartbeatIn,
    RegisterIn,
    UserState,
)


def test_unknown_fields_are_ignored_not_refused() -> None:
    body = {
        "userId": "u1",
        "tickets": 2,
        "deviceInfo": {"os": "ios"},
        "botValidation": {
            "fingerprint": "fp",
            "fingerprintConfidence": 90,
            "timingMs": 3000,
            "powSolution": "1",
            "powChallenge": "c",
            "visitorId": "v",
        },
        "behaviorSignals": {"mouseMovements": 5, "pointerType": "mouse"},
    }
    parsed = RegisterIn.model_validate(body)
    assert parsed.bot_validation is not None and parsed.bot_validation.fingerprint_confidence == 90
    assert parsed.behavior_signals is not None and parsed.behavior_signals.mouse_movements == 5
    assert QueueHeartbeatIn.model_validate({"token": "t", "extra": 1}).token == "t"
    config = {
        "dropId": "d",
        "inventory": 1,
        "registrationStart": int(time.time() * 1000),
        "registrationEnd": int(time.time() * 1000) + 60_000,
        "purchaseWindow": 60,
        "unknown": True,
    }
    assert DropConfig.model_validate(config).drop_id == "d"


def test_fingerprint_confidence_is_0_to_100() -> None:
    bot = {"fingerprint": "f", "timingMs": 1, "powSolution": "1", "powChallenge": "c"}
    RegisterIn.model_validate(
        {"userId": "u", "tickets": 1, "botValidation": {**bot, "fingerprintConfidence": 100}}
    )
    with pytest.raises(ValidationError):
        RegisterIn.model_validate(
            {"userId": "u", "tickets": 1, "botValidation": {**bot, "fingerprintConfidence": 101}}
        )


def test_status_values_are_the_contract_ones() -> None:
    assert set(PARTICIPANT_STATUSES) == {
        "not_registered", "registered", "winner", "backup_winner", "loser", "purchased", "expired"
    }  # fmt: skip
    with pytest.raises(ValidationError):
        UserState.model_validate({"dropId": "d", "userId": "u", "status": "lost"})


def test_backups_ahead_only_for_backup_winners() -> None:
    backup = UserState(drop_id="d", user_id="u", status="backup_winner", backup_position=4)
    assert backup.wire()["backupsAhead"] == 3
    assert UserState(drop_id="d", user_id="u", status="winner").wire()["backupsAhead"] is None
    again = UserState.model_validate(backup.wire())  # the computed field reads back fine
    assert again == backup


def test_every_frame_names_its_type_in_the_payload() -> None:
    raw = frames.frame("queue_ready", {"token": "t", "type": "stale"}, 7).decode()
    assert raw.startswith("id: 7\nevent: queue_ready\ndata: ")
    data = json.loads(raw.split("data: ", 1)[1])
    assert data == {"token": "t", "type": "queue_ready"}
