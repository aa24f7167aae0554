"""Typed job models: valid and invalid inputs of every queue, and the sanitising types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sidecar.backend.queue_names import OPERATIONS
from sidecar.typed.models import MODELS, InvalidJobData, UnknownOperation, validate
from sidecar.typed.text import strip_control

SOON = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
PAST = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
MESSAGE = {"message_id": 5, "date": 1700000000, "chat": {"id": -1001, "type": "supergroup"}}

VALID: dict[str, dict] = {
    "tasks:create": {"userId": 42, "title": "Replace pump seal"},
    "tasks:update": {"userId": "u1", "taskId": 7, "changes": {"status": "In progress"}},
    "tasks:sync": {},
    "reminders:schedule": {"userId": 42, "remindAt": SOON, "message": "Check the pump"},
    "reminders:send": {"userId": 42, "message": "Check the pump"},
    "telegram:outbound": {"chatId": -1001, "text": "hello"},
    "telegram:command": {"update_id": 10, "message": {**MESSAGE, "text": "/new Fix it"}},
    "openproject:sync": {"resource": "projects"},
    "openproject:webhook": {"action": "work_package:updated", "work_package": {"id": 1}},
}


def fields_of(operation: str, data: object) -> dict[str, str]:
    """The field errors of an invalid job, as {field: type}."""
    with pytest.raises(InvalidJobData) as caught:
        validate(operation, data)
    return {f["field"]: f["type"] for f in caught.value.fields}


def test_every_typed_queue_has_a_model_and_inbound_has_none() -> None:
    assert set(MODELS) == set(OPERATIONS) - {"webhooks:inbound"}
    with pytest.raises(UnknownOperation):
        validate("webhooks:inbound", {})
    with pytest.raises(UnknownOperation):
        validate("tasks:delete", {})


@pytest.mark.parametrize("operation", sorted(VALID))
def test_valid_minimal_jobs_pass(operation: str) -> None:
    assert isinstance(validate(operation, VALID[operation]), dict)


@pytest.mark.parametrize("operation", sorted(VALID))
def test_unknown_top_level_fields_are_refused(operation: str) -> None:
    assert fields_of(operation, {**VALID[operation], "admin": True}) == {"admin": "extra_forbidden"}


@pytest.mark.parametrize("operation", sorted(VALID))
def test_a_body_that_is_not_an_object_is_refused(operation: str) -> None:
    assert fields_of(operation, ["not", "an", "object"]) == {"body": "dict_type"}


def test_tasks_create_full_and_normalised() -> None:
    data = validate(
        "tasks:create",
        {
            "userId": 42,
            "title": "  Fix\x00 pump\r\n\tnow \x07",
            "description": "line 1\r\nline 2\tend\x1b[31m",
            "dueDate": "2030-01-31",
            "priority": "High",
            "projectId": 3,
            "assigneeId": "u-9",
        },
    )
    assert data == {
        "userId": "42",
        "title": "Fix pump  now",
        "description": "line 1\nline 2\tend[31m",
        "dueDate": "2030-01-31",
        "priority": "high",
        "projectId": "3",
        "assigneeId": "u-9",
    }


def test_tasks_create_lists_every_field_error() -> None:
    errors = fields_of(
        "tasks:create",
        {"title": "x" * 256, "dueDate": "soon", "priority": "urgent", "userId": 1.5},
    )
    assert errors == {
        "userId": "id_type",
        "title": "string_too_long",
        "dueDate": "date_from_datetime_parsing",
        "priority": "literal_error",
    }


@pytest.mark.parametrize(
    ("data", "field", "kind"),
    [
        ({"title": "t"}, "userId", "missing"),
        ({"userId": 1}, "title", "missing"),
        ({"userId": 1, "title": " \x00\x01 \t"}, "title", "string_too_short"),
        ({"userId": 1, "title": 5}, "title", "string_type"),
        ({"userId": True, "title": "t"}, "userId", "id_type"),
        ({"userId": "", "title": "t"}, "userId", "string_too_short"),
        ({"userId": "x" * 65, "title": "t"}, "userId", "string_too_long"),
        ({"userId": "a\x00b", "title": "t"}, "userId", "id_control"),
        ({"userId": {"id": 1}, "title": "t"}, "userId", "id_type"),
        (
            {"userId": 1, "title": "t", "description": "d" * 10_001},
            "description",
            "string_too_long",
        ),
    ],
)
def test_tasks_create_refuses(data: dict, field: str, kind: str) -> None:
    assert fields_of("tasks:create", data) == {field: kind}


def test_huge_fields_are_refused_not_truncated() -> None:
    errors = fields_of("tasks:create", {"userId": 1, "title": "x" * 5_000_000})
    assert errors == {"title": "string_too_long"}


def test_tasks_update_keeps_only_the_given_changes_and_allows_clearing() -> None:
    data = validate(
        "tasks:update",
        {"userId": 1, "taskId": 7, "changes": {"dueDate": None, "title": "New\ntitle"}},
    )
    assert data == {
        "userId": "1",
        "taskId": "7",
        "changes": {"dueDate": None, "title": "New title"},
    }


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({}, "changes", "value_error"),
        ({"title": None}, "changes.title", "value_error"),
        ({"status": None}, "changes.status", "value_error"),
        ({"colour": "red"}, "changes.colour", "extra_forbidden"),
        ({"priority": "whenever"}, "changes.priority", "literal_error"),
    ],
)
def test_tasks_update_refuses(changes: dict, field: str, kind: str) -> None:
    assert fields_of("tasks:update", {"userId": 1, "taskId": 7, "changes": changes}) == {
        field: kind
    }


def test_tasks_update_needs_task_and_changes() -> None:
    assert fields_of("tasks:update", {"userId": 1}) == {"taskId": "missing", "changes": "missing"}


def test_tasks_sync_fields() -> None:
    data = {"userId": 1, "taskId": 2, "projectId": 3, "since": "2024-01-01T00:00:00Z"}
    assert validate("tasks:sync", data)["since"] == "2024-01-01T00:00:00Z"
    assert fields_of("tasks:sync", {"since": "2024-01-01T00:00:00"}) == {"since": "timezone_aware"}


def test_reminders_schedule_keeps_the_offset_and_optional_fields() -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    local = when.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    data = validate(
        "reminders:schedule",
        {"userId": 1, "remindAt": local, "message": "Hi\x00", "taskId": 5, "chatId": -100},
    )
    assert datetime.fromisoformat(data["remindAt"]) == when
    assert (data["message"], data["taskId"], data["chatId"]) == ("Hi", "5", "-100")


@pytest.mark.parametrize(
    ("remind_at", "kind"),
    [
        (PAST, "datetime_future"),
        ("2030-01-01T10:00:00", "timezone_aware"),
        ("tomorrow", "datetime_from_date_parsing"),
        ((datetime.now(UTC) + timedelta(days=3000)).isoformat(), "datetime_too_far"),
    ],
)
def test_reminders_schedule_refuses_bad_times(remind_at: str, kind: str) -> None:
    data = {"userId": 1, "remindAt": remind_at, "message": "m"}
    assert fields_of("reminders:schedule", data) == {"remindAt": kind}


def test_reminders_send_accepts_a_past_remind_at() -> None:
    data = {"userId": 1, "message": "m", "remindAt": PAST, "reminderId": "abc"}
    assert validate("reminders:send", data)["reminderId"] == "abc"


def test_telegram_outbound_fields_and_limits() -> None:
    full = {
        "chatId": "@channel",
        "text": "*bold*\r\n",
        "parseMode": "MarkdownV2",
        "replyToMessageId": 12,
        "disableNotification": True,
    }
    assert validate("telegram:outbound", full) == {**full, "text": "*bold*"}
    assert validate("telegram:outbound", {"chatId": 1, "text": "x" * 4096})["text"] == "x" * 4096
    bad = {"chatId": 1, "text": "x" * 4097, "parseMode": "markdownv3", "replyToMessageId": 0}
    assert fields_of("telegram:outbound", bad) == {
        "text": "string_too_long",
        "parseMode": "literal_error",
        "replyToMessageId": "greater_than",
    }
    assert fields_of("telegram:outbound", {"text": "hi"}) == {"chatId": "missing"}


def test_telegram_update_keeps_extra_keys_of_nested_objects_sanitised() -> None:
    update = {
        "update_id": 99,
        "message": {
            **MESSAGE,
            "from": {"id": 7, "first_name": "Ann\x00", "is_bot": False},
            "text": "/new pump\x07",
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
        },
    }
    data = validate("telegram:command", update)
    assert data["message"]["from"] == {"id": 7, "first_name": "Ann", "is_bot": False}
    assert data["message"]["text"] == "/new pump"
    assert data["message"]["entities"] == update["message"]["entities"]


def test_telegram_callback_query() -> None:
    update = {"update_id": 1, "callback_query": {"id": "q1", "from": {"id": 7}, "data": "done:5"}}
    assert validate("telegram:command", update) == update
    missing = {"update_id": 1, "callback_query": {"id": "q1"}}
    assert fields_of("telegram:command", missing) == {"callback_query.from": "missing"}


@pytest.mark.parametrize(
    ("update", "field", "kind"),
    [
        ({"message": MESSAGE}, "update_id", "missing"),
        ({"update_id": -1, "message": MESSAGE}, "update_id", "greater_than_equal"),
        ({"update_id": 1}, "body", "value_error"),
        ({"update_id": 1, "message": MESSAGE, "poll": {"id": "p"}}, "body", "value_error"),
        ({"update_id": 1, "new_kind": {}}, "new_kind", "extra_forbidden"),
        ({"update_id": 1, "message": {"message_id": 1}}, "message.date", "missing"),
        ({"update_id": 1, "message": "hi"}, "message", "model_type"),
        ({"update_id": 1, "poll": {"x": "y" * 70_000}}, "poll", "object_too_large"),
    ],
)
def test_telegram_update_refuses(update: dict, field: str, kind: str) -> None:
    assert field in fields_of("telegram:command", update)
    assert fields_of("telegram:command", update)[field] == kind


def test_deeply_nested_objects_are_refused() -> None:
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    update = {"update_id": 1, "poll": deep}
    assert fields_of("telegram:command", update) == {"poll": "too_deep"}


def test_openproject_webhook() -> None:
    hook = {
        "action": "work_package:created",
        "work_package": {"_type": "WorkPackage", "id": 9, "subject": "Pump\x00", "_links": {}},
    }
    data = validate("openproject:webhook", hook)
    assert data["work_package"]["subject"] == "Pump"
    assert fields_of("openproject:webhook", {"action": "work_package:updated"}) == {
        "body": "value_error"
    }
    assert fields_of("openproject:webhook", {"action": "DROP TABLE"}) == {
        "action": "string_pattern_mismatch"
    }
    big = {"action": "project:updated", "project": {"d": "x" * 300_000}}
    assert fields_of("openproject:webhook", big) == {"project": "object_too_large"}


def test_openproject_sync() -> None:
    data = validate("openproject:sync", {"resource": "work_packages", "projectId": 4})
    assert data == {"resource": "work_packages", "projectId": "4"}
    assert fields_of("openproject:sync", {}) == {"resource": "missing"}
    assert fields_of("openproject:sync", {"resource": "everything"}) == {
        "resource": "literal_error"
    }


def test_strip_control_keeps_newline_and_tab_and_drops_surrogates() -> None:
    assert strip_control("a\nb\tc\r\x00\x7f\x85\ud800é🙂") == "a\nb\tcé🙂"


def test_validated_data_always_encodes_as_utf8() -> None:
    data = validate("telegram:outbound", {"chatId": 1, "text": "ok\ud83d"})
    assert data["text"].encode("utf-8") == b"ok"
