"""One pydantic model per typed queue (SPEC §4 without webhooks:inbound), and `validate`.

Top-level unknown fields are refused (extra="forbid"); objects that come from Telegram or
OpenProject keep the extra keys those services add, sanitised and size-capped. Field names
are the JSON names n8n workflows send (camelCase, Telegram's snake_case for updates).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from sidecar.typed.text import FutureDatetime, Id, json_object, line, lower, sanitise_json, text

Title = line(255)
Description = text(10_000)
Status = line(64)
MessageText = text(4096)
IncomingText = text(4096, min_length=0)
ChatType = line(32)
CallbackId = line(64)
CallbackData = line(256, min_length=0)
OBJECT_BYTES = 256 * 1024
TELEGRAM_BYTES = 64 * 1024
OpenProjectObject = json_object(OBJECT_BYTES)
TelegramObject = json_object(TELEGRAM_BYTES)


Priority = Annotated[Literal["low", "normal", "high", "immediate"], BeforeValidator(lower)]


class JobData(BaseModel):
    """Base of the typed job models: unknown top-level fields are refused."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, populate_by_name=True)


class TaskCreate(JobData):
    """tasks:create: a new OpenProject work package for a user."""

    userId: Id
    title: Title
    description: Description | None = None
    dueDate: date | None = None
    priority: Priority | None = None
    projectId: Id | None = None
    assigneeId: Id | None = None


class TaskChanges(JobData):
    """The fields of a task to change; null clears description, dueDate or assigneeId."""

    title: Title | None = None
    description: Description | None = None
    dueDate: date | None = None
    priority: Priority | None = None
    status: Status | None = None
    assigneeId: Id | None = None
    projectId: Id | None = None

    @field_validator("title", "priority", "status", "projectId")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be cleared (null)")
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> TaskChanges:
        if not self.model_fields_set:
            raise ValueError("must change at least one field")
        return self


class TaskUpdate(JobData):
    """tasks:update: change fields of an existing work package."""

    userId: Id
    taskId: Id
    changes: TaskChanges


class TaskSync(JobData):
    """tasks:sync: reconcile tasks with OpenProject (one task, one project, or all since)."""

    userId: Id | None = None
    taskId: Id | None = None
    projectId: Id | None = None
    since: AwareDatetime | None = None


class ReminderSchedule(JobData):
    """reminders:schedule: remind a user at `remindAt` (which must be in the future)."""

    userId: Id
    remindAt: FutureDatetime
    message: MessageText
    taskId: Id | None = None
    chatId: Id | None = None


class ReminderSend(JobData):
    """reminders:send: send a reminder now (also what reminders:schedule enqueues)."""

    userId: Id
    message: MessageText
    remindAt: AwareDatetime | None = None
    taskId: Id | None = None
    chatId: Id | None = None
    reminderId: Id | None = None


class TelegramOutbound(JobData):
    """telegram:outbound: a message for the bot to send."""

    chatId: Id
    text: MessageText
    parseMode: Literal["MarkdownV2", "HTML", "Markdown"] | None = None
    replyToMessageId: Annotated[int, Field(gt=0)] | None = None
    disableNotification: bool | None = None


class TelegramPart(BaseModel):
    """A Telegram object: the keys read here are typed, the others kept (sanitised)."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _sanitise(cls, data: Any) -> Any:
        return sanitise_json(data, TELEGRAM_BYTES) if isinstance(data, dict) else data


class TelegramChat(TelegramPart):
    """Chat: id and type."""

    id: int
    type: ChatType


class TelegramUser(TelegramPart):
    """User: id."""

    id: int


class TelegramMessage(TelegramPart):
    """Message: id, date, chat, and text when it is a text message."""

    message_id: int
    date: int
    chat: TelegramChat
    from_: TelegramUser | None = Field(None, alias="from")
    text: IncomingText | None = None


class TelegramCallbackQuery(TelegramPart):
    """Callback query (inline keyboard press): id, sender, data."""

    id: CallbackId
    from_: TelegramUser = Field(alias="from")
    data: CallbackData | None = None
    message: TelegramObject | None = None


# The update kinds of the Bot API's Update object (one per update).
_MESSAGE_KINDS = """message edited_message channel_post edited_channel_post business_message
    edited_business_message"""
_OTHER_KINDS = """business_connection deleted_business_messages message_reaction
    message_reaction_count inline_query chosen_inline_result shipping_query pre_checkout_query
    purchased_paid_media poll poll_answer my_chat_member chat_member chat_join_request
    chat_boost removed_chat_boost"""
MESSAGE_KINDS, OTHER_KINDS = tuple(_MESSAGE_KINDS.split()), tuple(_OTHER_KINDS.split())
UPDATE_KINDS = (*MESSAGE_KINDS, "callback_query", *OTHER_KINDS)


class _UpdateBase(JobData):
    """update_id, and the rule that an update carries exactly one kind."""

    update_id: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _one_kind(self) -> _UpdateBase:
        present = [kind for kind in UPDATE_KINDS if getattr(self, kind) is not None]
        if len(present) != 1:
            found = ", ".join(present) or "none"
            raise ValueError(f"must carry exactly one update kind (message, …); found {found}")
        return self


TelegramUpdate = create_model(  # telegram:command: a Telegram Update, exactly one kind
    "TelegramUpdate",
    __base__=_UpdateBase,
    __doc__="telegram:command: a Telegram Update with exactly one update kind.",
    callback_query=(TelegramCallbackQuery | None, None),
    **{kind: (TelegramMessage | None, None) for kind in MESSAGE_KINDS},
    **{kind: (TelegramObject | None, None) for kind in OTHER_KINDS},
)


OPENPROJECT_RESOURCES = ("work_package", "project", "time_entry", "attachment", "comment")


class OpenProjectWebhook(JobData):
    """openproject:webhook: OpenProject's webhook, e.g. action "work_package:updated"."""

    action: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}:[a-z_]{1,40}$")]
    work_package: OpenProjectObject | None = None
    project: OpenProjectObject | None = None
    time_entry: OpenProjectObject | None = None
    attachment: OpenProjectObject | None = None
    comment: OpenProjectObject | None = None

    @model_validator(mode="after")
    def _resource_present(self) -> OpenProjectWebhook:
        resource = self.action.partition(":")[0]
        if resource in OPENPROJECT_RESOURCES and getattr(self, resource) is None:
            raise ValueError(f"action {self.action!r} needs a {resource!r} object")
        return self


class OpenProjectSync(JobData):
    """openproject:sync: pull OpenProject data of one kind (optionally one project, since)."""

    resource: Literal["work_packages", "projects", "users", "statuses", "types", "versions"]
    projectId: Id | None = None
    since: AwareDatetime | None = None
    userId: Id | None = None


MODELS: dict[str, type[BaseModel]] = {
    "tasks:create": TaskCreate,
    "tasks:update": TaskUpdate,
    "tasks:sync": TaskSync,
    "reminders:schedule": ReminderSchedule,
    "reminders:send": ReminderSend,
    "telegram:outbound": TelegramOutbound,
    "telegram:command": TelegramUpdate,
    "openproject:sync": OpenProjectSync,
    "openproject:webhook": OpenProjectWebhook,
}


class UnknownOperation(KeyError):
    """The operation has no typed model (unknown, or webhooks:inbound)."""


class InvalidJobData(ValueError):
    """Job data that does not fit its model; `fields` lists {"field", "message", "type"}."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


NOT_AN_OBJECT = {"field": "body", "message": "must be a JSON object", "type": "dict_type"}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Every error of `exc` as {"field": "changes.title", "message", "type"}."""
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "body",
            "message": err["msg"].removeprefix("Value error, "),
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def validate(operation: str, data: object) -> dict:
    """`data` checked against the model of `operation`, sanitised, as JSON-safe dict."""
    model = MODELS.get(operation)
    if model is None:
        raise UnknownOperation(operation)
    if not isinstance(data, dict):
        raise InvalidJobData([NOT_AN_OBJECT])
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidJobData(field_errors(exc)) from None
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
