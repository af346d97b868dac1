"""Settings: defaults, then a TOML settings file, then ``SMSGATE_*`` environment variables,
then command-line flags, each overriding the one before.

The settings file is the one ``--config`` or ``SMSGATE_CONFIG`` names, else ``smsgate.toml`` in
the working directory when there is one. Nested settings take ``__`` in environment variable
names: ``SMSGATE_DISPATCHER__BATCH_SIZE=200``.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from smsgate.core.rates import check_rate
from smsgate.text.national import for_country, language_ids
from smsgate.text.tables import LANGUAGES

DEFAULT_SETTINGS_FILE = Path("smsgate.toml")

_settings_file: ContextVar[Path | None] = ContextVar("smsgate_settings_file", default=None)


class ChannelSettings(BaseModel):
    """One channel: a name, a kind, and the kind's own options."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DispatcherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_interval: float = Field(default=1.0, gt=0, description="seconds between idle polls")
    retry_base: float = Field(default=5.0, gt=0, description="first retry delay, seconds")
    retry_max: float = Field(default=600.0, gt=0, description="longest retry delay, seconds")


class CallbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=10.0, gt=0, description="seconds per attempt")
    max_attempts: int = Field(default=10, ge=1)
    backoff_base: float = Field(default=2.0, gt=0, description="first retry delay, seconds")
    backoff_max: float = Field(default=900.0, gt=0, description="longest retry delay, seconds")
    concurrency: int = Field(default=64, ge=1, description="attempts in flight at once")
    batch_size: int = Field(default=200, ge=1)
    poll_interval: float = Field(default=1.0, gt=0)


class SmsSenderToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=8, description="the access-token value")
    account: str | None = Field(
        default=None, pattern=r"^[MS]A[A-Z0-9]{18}$", description="auth_id it sends as"
    )


class SmsSenderSettings(BaseModel):
    """The SMSSender-compatible face: ``GET /?c=send_sms&access-token=…&params={…}``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    key_param: str = Field(default="access-token", min_length=1)
    keys: list[SmsSenderToken] = Field(default_factory=list)
    src: str = Field(
        default="1000", description="src of its messages (a modem sends from its own number)"
    )
    phone_format: Literal["ru", "international"] = Field(
        default="ru", description="ru: (+7|7|8) and 10 digits, as SMSSender; or any number"
    )
    max_parts: int = Field(
        default=1, ge=1, le=10, description="SMSSender sent one part: 160 GSM / 70 UCS-2"
    )
    wait: float = Field(
        default=30.0, ge=0, description="seconds to wait for the modem to take the message"
    )
    balance_channel: str | None = Field(default=None, description="modem channel for USSD")
    balance_code: str = Field(default="*100#", pattern=r"^[0-9*#+]{2,32}$")


class SmstoolsApiUser(BaseModel):
    """A user of the smstools-http-api face (its ``USERS`` and ``MOBILE_PERMS``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[^:\s]{1,64}$")
    password: str | None = Field(default=None, min_length=1, description="in the clear")
    password_hash: str | None = Field(
        default=None,
        pattern=r"^scrypt\$",
        description="from `smsgate hash-password`, instead of password",
    )
    account: str | None = Field(
        default=None, pattern=r"^[MS]A[A-Z0-9]{18}$", description="auth_id it sends as"
    )
    mobiles: list[str] | None = Field(
        default=None,
        description="the numbers it may send to (a trailing * allows a prefix); default: any",
    )
    src: str | None = Field(default=None, description="src of its messages")
    admin: bool = Field(default=False, description="reads every message of its account")

    @model_validator(mode="after")
    def _one_password(self) -> SmstoolsApiUser:
        if (self.password is None) == (self.password_hash is None):
            raise ValueError(f"user {self.name!r}: set either password or password_hash")
        for mobile in self.mobiles or []:
            if not re.fullmatch(r"\+?[0-9]+\*?", mobile.replace(" ", "")):
                raise ValueError(
                    f"user {self.name!r}: mobiles entry {mobile!r} is not a number "
                    "(digits, a trailing * for a prefix)"
                )
        return self


class SmstoolsApiSettings(BaseModel):
    """The smstools-http-api-compatible face: ``POST /api/v1.0/sms/outgoing``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    src: str = Field(default="1000", description="src of its messages, unless a user has one")
    users: list[SmstoolsApiUser] = Field(default_factory=list)

    @field_validator("users")
    @classmethod
    def _unique(cls, value: list[SmstoolsApiUser]) -> list[SmstoolsApiUser]:
        names = [user.name for user in value]
        if len(set(names)) != len(names):
            raise ValueError("smstools_api user names must be unique")
        return value


class SendPageSettings(BaseModel):
    """The send page (``/send``), where a pass code sends messages."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    src: str = Field(default="1000", description="src of the messages it sends")
    max_destinations: int = Field(default=100, ge=1, le=1000)
    free_failures: int = Field(default=3, ge=0, description="wrong codes answered at once")
    max_delay: float = Field(
        default=4.0, ge=0, description="longest wait, in seconds, before a wrong code's answer"
    )
    block_after: int = Field(default=10, ge=1, description="wrong codes before refusing (429)")
    block_minutes: float = Field(default=15.0, gt=0, description="how long a refusal lasts")


_OPTOUT = {
    "en": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"],
    "fr": ["ARRET", "DESABONNER"],
    "es": ["BAJA", "ALTO"],
    "de": ["STOPP", "ABMELDEN"],
}
_OPTIN = {"en": ["START", "YES", "UNSTOP"], "fr": ["DEMARRER"], "es": ["ALTA"], "de": ["ANMELDEN"]}
_HELP = {"en": ["HELP", "INFO"], "fr": ["AIDE"], "es": ["AYUDA"], "de": ["HILFE"]}
_OPTOUT_REPLY = {
    "en": "You are unsubscribed and will get no more messages. Reply START to subscribe again.",
    "fr": "Vous êtes désabonné. Répondez DEMARRER pour vous réabonner.",
    "es": "Se ha dado de baja. Responda ALTA para volver a suscribirse.",
    "de": "Sie sind abgemeldet. Antworten Sie ANMELDEN, um sich wieder anzumelden.",
}
_OPTIN_REPLY = {"en": "You are subscribed again. Reply STOP to unsubscribe."}
_HELP_REPLY = {"en": "Reply STOP to unsubscribe, START to subscribe again."}


class KeywordSettings(BaseModel):
    """Standard keywords: per language, the words; per language, the replies ("" none)."""

    model_config = ConfigDict(extra="forbid")

    optout_keywords: dict[str, list[str]] = Field(default_factory=lambda: dict(_OPTOUT))
    optin_keywords: dict[str, list[str]] = Field(default_factory=lambda: dict(_OPTIN))
    help_keywords: dict[str, list[str]] = Field(default_factory=lambda: dict(_HELP))
    optout_reply: dict[str, str] = Field(default_factory=lambda: dict(_OPTOUT_REPLY))
    optin_reply: dict[str, str] = Field(default_factory=lambda: dict(_OPTIN_REPLY))
    help_reply: dict[str, str] = Field(default_factory=lambda: dict(_HELP_REPLY))


class AccountKeywordSettings(KeywordSettings):
    """One account's own standard keywords and replies, instead of ``[inbound]``'s."""

    account: str = Field(pattern=r"^[MS]A[A-Z0-9]{18}$")


class InboundSettings(BaseModel):
    """Inbound messages: forwarding to applications, standard keywords (see docs/inbound.md)."""

    model_config = ConfigDict(extra="forbid")

    retry_hours: float = Field(
        default=24.0, gt=0, description="how long an application's message_url is retried"
    )
    keywords_enabled: bool = Field(default=True, description="STOP, START, HELP and the like")
    keywords: KeywordSettings = Field(default_factory=KeywordSettings)
    accounts: list[AccountKeywordSettings] = Field(default_factory=list)
    link_expiry_minutes: int = Field(
        default=1440, gt=0, le=527_040, description="how long a handler's one-time link lasts"
    )
    public_url: str | None = Field(
        default=None,
        description="the base URL of one-time links, as phones reach the gateway; "
        "default http://HOST:PORT",
    )


class LimitSettings(BaseModel):
    """Rate limits (see docs/limits.md). Rates are written ``10/min``, ``30/s``, ``500/h``;
    ``""`` means no limit. Accounts may override the per-account ones."""

    model_config = ConfigDict(extra="forbid")

    redis_url: str | None = Field(
        default=None,
        description="count limits in this Redis, shared by every node (in-process without)",
    )
    api_requests: str = Field(
        default="100/s", description="API requests per credential; excess answers 429"
    )
    number_pace: str = Field(
        default="10/min",
        description="message parts per source and per destination number; excess waits",
    )
    send_rate: str = Field(default="", description="message parts per account")

    @field_validator("api_requests", "number_pace", "send_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate(value)


class InboundEndpointSettings(BaseModel):
    """A URL where an upstream provider pushes inbound messages and delivery reports:
    ``/inbound/<name>/`` (see docs/inbound-endpoints.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="the URL's last segment, and the channel recorded on its messages",
    )
    format: Literal["broker", "plivo", "twilio"]
    account: str | None = Field(
        default=None,
        pattern=r"^[MS]A[A-Z0-9]{18}$",
        description="auth_id owning what arrives; default the first main account",
    )
    auth_token: str | None = Field(
        default=None,
        min_length=1,
        description="the provider's token: signatures are then required (plivo, twilio)",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+[^?#\s]*$",
        description="the URL the provider calls, without query, when a proxy rewrites it",
    )
    replay_window: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="plivo: seconds a signature's nonce is remembered to refuse replays",
    )

    @model_validator(mode="after")
    def _consistent(self) -> InboundEndpointSettings:
        if self.name.strip(".") == "":
            raise ValueError(f"inbound endpoint name {self.name!r} is not a usable URL segment")
        if self.format == "broker" and self.auth_token is not None:
            raise ValueError(
                f"inbound endpoint {self.name!r}: the broker format has no signatures, "
                "so auth_token cannot be checked; remove it"
            )
        return self


class SmppServerSettings(BaseModel):
    """The SMPP 3.4 server face: ESMEs bind with credentials from ``smsgate smpp users add``
    and submit messages (see docs/smpp-server.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=2775, ge=0, le=65535)
    tls_port: int | None = Field(
        default=None, ge=0, le=65535, description="a TLS listener too (needs the cert and key)"
    )
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate chain")
    tls_key_file: Path | None = Field(default=None, description="PEM private key")
    window: int = Field(
        default=100, ge=1, le=10_000, description="requests served at once per session"
    )
    enquire_link_timeout: float = Field(
        default=90.0, gt=0, description="seconds a session may stay silent before it is closed"
    )
    bind_timeout: float = Field(default=30.0, gt=0, description="seconds a connection has to bind")
    max_unbound: int = Field(
        default=64, ge=1, description="connections not bound yet at once (over it: closed)"
    )
    receipt_window: int = Field(
        default=10, ge=1, le=1000, description="deliver_sm outstanding per session"
    )
    receipt_retry_hours: float = Field(
        default=24.0, gt=0, description="how long a receipt waits for its ESME to bind"
    )
    default_alphabet: Literal["gsm7", "latin1", "ascii"] = Field(
        default="gsm7", description="what data_coding 0 means"
    )

    @model_validator(mode="after")
    def _tls(self) -> SmppServerSettings:
        if self.tls_port is not None and (self.tls_cert_file is None or self.tls_key_file is None):
            raise ValueError("smpp_server.tls_port needs tls_cert_file and tls_key_file")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMSGATE_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("smsgate-data")
    database_url: str | None = Field(
        default=None, description="sqlite:///path or postgresql://…; default: SQLite in data_dir"
    )
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = Field(default=True, description="one line per HTTP request on stderr")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies trusted to set X-Forwarded-For (requester_ip); '*' trusts any",
    )
    channels: list[ChannelSettings] = Field(
        default_factory=lambda: [ChannelSettings(name="simulator", kind="simulator")]
    )
    default_channel: str | None = Field(
        default=None, description="channel for outbound messages; default: the first channel"
    )
    national_languages: Literal["by_country", "none", "all"] | list[str] = Field(
        default="by_country",
        description="national language tables for GSM text: by the destination's country, "
        "none, all, or a list of languages (turkish, spanish, portuguese, hindi, ...)",
    )
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    smssender: SmsSenderSettings = Field(default_factory=SmsSenderSettings)
    smstools_api: SmstoolsApiSettings = Field(default_factory=SmstoolsApiSettings)
    send_page: SendPageSettings = Field(default_factory=SendPageSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    inbound_endpoints: list[InboundEndpointSettings] = Field(default_factory=list)
    smpp_server: SmppServerSettings = Field(default_factory=SmppServerSettings)

    @field_validator("inbound_endpoints")
    @classmethod
    def _unique_endpoint_names(
        cls, value: list[InboundEndpointSettings]
    ) -> list[InboundEndpointSettings]:
        names = [endpoint.name for endpoint in value]
        if len(set(names)) != len(names):
            raise ValueError("inbound endpoint names must be unique")
        return value

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, value: list[ChannelSettings]) -> list[ChannelSettings]:
        names = [channel.name for channel in value]
        if len(set(names)) != len(names):
            raise ValueError("channel names must be unique")
        if not value:
            raise ValueError("configure at least one channel")
        return value

    @field_validator("national_languages")
    @classmethod
    def _known_languages(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            language_ids(value)  # raises ValueError naming an unknown language
        return value

    def languages_for(self, country_iso2: str) -> tuple[int, ...]:
        """National language ids to consider for a destination in ``country_iso2``."""
        if self.national_languages == "by_country":
            return for_country(country_iso2)
        if self.national_languages == "none":
            return ()
        if self.national_languages == "all":
            return tuple(range(1, len(LANGUAGES)))
        return language_ids(self.national_languages)

    @model_validator(mode="after")
    def _default_channel_exists(self) -> Settings:
        names = [channel.name for channel in self.channels]
        balance = self.smssender.balance_channel
        if balance is not None and balance not in names:
            raise ValueError(
                f"smssender.balance_channel {balance!r} is not one of the channels "
                f"({', '.join(names)})"
            )
        if self.default_channel is not None and self.default_channel not in names:
            raise ValueError(
                f"default_channel {self.default_channel!r} is not one of the channels "
                f"({', '.join(names)})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'smsgate.db').resolve()}"

    @property
    def receiving_channels(self) -> list[str]:
        """What a number may be bound to: the channels, and the inbound endpoints (each
        records its name as the channel of what arrives through it)."""
        return [c.name for c in self.channels] + [e.name for e in self.inbound_endpoints]

    @property
    def outbound_channel(self) -> str:
        return self.default_channel or self.channels[0].name

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _settings_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class SettingsFileError(ValueError):
    pass


def settings_file(explicit: Path | None) -> Path | None:
    """The settings file in force: the flag's, the environment's, or ./smsgate.toml if present."""
    if explicit is not None:
        chosen: Path | None = explicit
    elif os.environ.get("SMSGATE_CONFIG"):
        chosen = Path(os.environ["SMSGATE_CONFIG"])
    else:
        chosen = DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None
    if chosen is not None and not chosen.is_file():
        raise SettingsFileError(f"settings file not found: {chosen}")
    return chosen


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from every source; ``overrides`` (command-line flags) win over all others."""
    token = _settings_file.set(settings_file(config))
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _settings_file.reset(token)
