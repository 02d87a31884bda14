"""Settings: layered (defaults <- file <- environment <- command line), validated once
at start-up into one frozen object.

The file is TOML (``config/callcenter.toml`` shows every key with its default). The
environment overrides any key as ``CALLCENTER_<SECTION>__<KEY>`` (for example
``CALLCENTER_AMI__SECRET``). Validation is done by pydantic, which reports every wrong
key and value at once with its dotted name; unknown keys are errors, so a typo never
passes silently.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AMISettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=0, le=65535)
    username: str = "cti"
    secret: SecretStr = SecretStr("cti-secret")
    auth: Literal["plain", "md5"] = "md5"
    action_timeout: float = Field(10.0, gt=0)
    ping_interval: float = Field(20.0, gt=0)


class AGISettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535)
    script: str = "inbound"


class WebSettings(_Section):
    host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    ws_port: int = Field(8081, ge=0, le=65535)
    # What the browser uses to reach the WebSocket server (behind a reverse proxy, say);
    # empty: ws://<host>:<ws_port>/ws
    public_ws_url: str = ""
    # Signs session cookies and WebSocket tickets; empty: generated once and kept in the
    # data directory.
    secret_key: SecretStr = SecretStr("")
    cookie_secure: bool = False


class StoreSettings(_Section):
    # empty: SQLite file in the data directory
    url: SecretStr = SecretStr("")
    region: str = Field("US", min_length=2, max_length=2)
    threads: int = Field(4, ge=1, le=64)


class ExpansionStep(_Section):
    """After ``after_seconds`` in the queue, accept agents down to ``min_proficiency``
    and stop requiring the skills in ``drop``."""

    after_seconds: float = Field(gt=0)
    min_proficiency: int | None = Field(None, ge=1, le=5)
    drop: tuple[str, ...] = ()


class QueueSettings(_Section):
    name: str = Field(min_length=1)
    wrapup_seconds: float = Field(5.0, ge=0)
    wrapup_extend_seconds: float = Field(30.0, ge=0)
    # Skills every agent taking these calls needs, "support:3,lang_en" (level 1-5).
    skills: str = ""
    priority: int = 0
    strategy: Literal["longest_idle", "most_skilled", "least_occupied", "round_robin"] = (
        "longest_idle")
    service_level_seconds: float = Field(20.0, gt=0)
    service_level_target: float = Field(0.8, gt=0, le=1)
    # Callers who hang up sooner do not count against the service level.
    short_abandon_seconds: float = Field(5.0, ge=0)
    # 0: no limit; else the call goes to ``overflow`` (a queue or "voicemail:<box>").
    max_wait_seconds: float = Field(0.0, ge=0)
    overflow: str = ""
    # Whether calls may join while no agent of the queue is logged in.
    join_empty: bool = True
    # Whether agents may record calls of this queue from the console (MixMonitor).
    recording: bool = False
    expansion: tuple[ExpansionStep, ...] = ()
    # What the agent may choose as the outcome of a call at wrap-up, and whether one
    # must be chosen before the wrap-up can be saved.
    dispositions: tuple[str, ...] = ("resolved", "follow-up", "escalated", "wrong number",
                                     "other")
    disposition_required: bool = True

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: str) -> str:
        from routing.queues import parse_skills

        parse_skills(value)
        return value

    @field_validator("dispositions")
    @classmethod
    def _dispositions(cls, value: tuple) -> tuple:
        for name in value:
            if not name.strip() or len(name) > 64:
                raise ValueError(f"disposition {name!r} must be 1 to 64 characters")
        if len(set(value)) != len(value):
            raise ValueError("dispositions must not repeat")
        return value

    @field_validator("expansion")
    @classmethod
    def _in_order(cls, value: tuple) -> tuple:
        times = [step.after_seconds for step in value]
        if times != sorted(times):
            raise ValueError("expansion steps must be in time order")
        return value


class MenuOption(_Section):
    digit: str = Field(pattern=r"^[0-9*#]$")
    label: str
    queue: str


class IVRSettings(_Section):
    # Declarative flow files or folders (config/ivr/*.toml): one flow per dialled number,
    # checked at start-up. Empty: the simple menu below.
    flows: tuple[str, ...] = ()
    greeting: str = "custom/welcome"
    menu_prompt: str = "custom/menu"
    invalid_prompt: str = "custom/invalid"
    menu_timeout_ms: int = Field(5000, ge=500)
    menu_retries: int = Field(2, ge=0)
    default_queue: str = "support"
    # Telephone PINs (identify by account + PIN): this many wrong PINs in a row, over
    # any number of calls, lock the account's PIN checks for pin_lock_minutes.
    pin_max_failures: int = Field(5, ge=1)
    pin_lock_minutes: float = Field(15.0, gt=0)
    options: tuple[MenuOption, ...] = (
        MenuOption(digit="1", label="sales", queue="sales"),
        MenuOption(digit="2", label="support", queue="support"),
    )


class RoutingSettings(_Section):
    ring_timeout: int = Field(20, ge=1)
    # How often a waiting caller's FastAGI session checks for an agent (ms).
    queue_poll_ms: int = Field(1000, ge=50)
    moh_class: str = "default"
    not_ready_reasons: tuple[str, ...] = ("break", "lunch", "training", "meeting", "admin")
    # An agent whose console closed while Ready is logged out after this many seconds.
    console_grace_seconds: float = Field(30.0, ge=0)
    # Callers whose CRM customer has one of these tiers get ``vip_priority`` more.
    vip_tiers: tuple[str, ...] = ("vip",)
    vip_priority: int = 10
    # Live queue and agent statistics are published this often (seconds).
    stats_interval: float = Field(1.0, gt=0)
    # Where the statistics' day starts, as hours east of UTC (e.g. -5 for New York).
    utc_offset_hours: float = Field(0.0, ge=-14, le=14)
    # Waiting callers of the built-in menu (declarative flows set these on their queue
    # node): announce the position and/or estimated wait every N seconds (0: never),
    # and offer a callback (press ``callback_digit``: the caller keeps their place).
    announce_every: int = Field(0, ge=0)
    announce_position: bool = False
    announce_wait: bool = False
    callback_offer: bool = False
    callback_digit: str = Field("1", pattern=r"^[0-9*#]$")
    # Callbacks: how many times the customer is dialled in all, and the seconds between
    # two attempts (the callback keeps its place in the queue meanwhile).
    callback_attempts: int = Field(3, ge=1)
    callback_retry_seconds: float = Field(60.0, gt=0)
    # A callback an agent scheduled at wrap-up joins its queue at its time with this
    # priority (added to the queue's).
    callback_priority: int = 0
    # Calls we place (callbacks, click-to-dial): the agent's phone rings first (for
    # ``ring_timeout``), then ``outbound_context`` dials the number; customers see
    # ``outbound_caller_id`` (empty: the PBX's default). After-call work of a call
    # placed from the console lasts ``outbound_wrapup_seconds``.
    outbound_context: str = Field("outbound", min_length=1)
    outbound_caller_id: str = ""
    outbound_wrapup_seconds: float = Field(5.0, ge=0)


class CallSettings(_Section):
    inbound_contexts: tuple[str, ...] = ("inbound",)


class Settings(_Section):
    data_dir: Path = Path("callcenter-data")
    ami: AMISettings = AMISettings()
    agi: AGISettings = AGISettings()
    web: WebSettings = WebSettings()
    store: StoreSettings = StoreSettings()
    routing: RoutingSettings = RoutingSettings()
    calls: CallSettings = CallSettings()
    ivr: IVRSettings = IVRSettings()
    queues: tuple[QueueSettings, ...] = (
        QueueSettings(name="sales"),
        QueueSettings(name="support"),
    )

    @model_validator(mode="after")
    def _queues_exist(self) -> Settings:
        names = {q.name for q in self.queues}
        wanted = [("ivr.default_queue", self.ivr.default_queue)]
        wanted += [(f"ivr.options.{o.digit}", o.queue) for o in self.ivr.options]
        wanted += [(f"queues.{q.name}.overflow", q.overflow) for q in self.queues
                   if q.overflow and not q.overflow.startswith("voicemail:")]
        for key, queue in wanted:
            if queue not in names:
                raise ValueError(f"{key}: unknown queue {queue!r} (queues: {sorted(names)})")
        return self

    def store_url(self) -> str:
        url = self.store.url.get_secret_value()
        return url or f"sqlite:///{(self.data_dir / 'callcenter.sqlite').resolve()}"

    def ws_url(self) -> str:
        return self.web.public_ws_url or f"ws://{self.web.host}:{self.web.ws_port}/ws"


class SettingsError(Exception):
    """The settings are wrong; ``problems`` lists every one as ``key: reason``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


ENV_PREFIX = "CALLCENTER_"


def _merge(base: dict, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_env(environ: Mapping[str, str]) -> dict:
    """``CALLCENTER_AMI__PORT=5039`` -> ``{"ami": {"port": "5039"}}``. Variables whose
    first part names no top-level setting are left alone. Values that look
    like JSON lists or objects are decoded (``CALLCENTER_CALLS__INBOUND_CONTEXTS='["a"]'``)."""
    tree: dict = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if path[0] not in Settings.model_fields:
            # Not a setting (e.g. CALLCENTER_TEST_POSTGRES_URL); a known section with an
            # unknown key, on the other hand, is reported like any wrong key.
            continue
        if value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def load_settings(
    path: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the one Settings object, or raise SettingsError listing every problem."""
    layers: dict = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                layers = tomllib.load(f)
        except FileNotFoundError:
            raise SettingsError([f"{path}: no such settings file"]) from None
        except tomllib.TOMLDecodeError as e:
            raise SettingsError([f"{path}: not valid TOML: {e}"]) from None
    layers = _merge(layers, _from_env(os.environ if environ is None else environ))
    layers = _merge(layers, overrides or {})
    try:
        return Settings.model_validate(layers)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top)"
            problems.append(f"{key}: {err['msg']}")
        raise SettingsError(problems) from None
