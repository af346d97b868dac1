"""The tables. Times are BIGINT microseconds since the epoch (UTC), the same on every database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

#: An auto-incrementing 64-bit key (INTEGER PRIMARY KEY is SQLite's rowid).
Id = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("auth_id", String(20), nullable=False, unique=True),
    Column("auth_token", String(64), nullable=False),
    Column("parent_id", Id, ForeignKey("accounts.id"), nullable=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("alphanumeric_sender", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("smart_encoding", Boolean, nullable=False, server_default=text("false")),
    #: Rate limits of this account (``30/s``; "" for none); NULL takes ``[limits]``'s.
    Column("api_requests", String(24), nullable=True),
    Column("send_rate", String(24), nullable=True),
    Column("number_pace", String(24), nullable=True),
)

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("state", String(12), nullable=False),
    Column("type", String(8), nullable=False),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("text", Text, nullable=True),
    Column("encoding", String(32), nullable=False),
    Column("units", Integer, nullable=False),
    Column("error_code", String(8), nullable=False, server_default=""),
    Column("url", Text, nullable=True),
    Column("method", String(4), nullable=False, server_default="POST"),
    Column("log", String(16), nullable=False, server_default="true"),
    Column("trackable", Boolean, nullable=False, server_default=text("false")),
    Column("requester_ip", String(64), nullable=False, server_default=""),
    Column("destination_country_iso2", String(2), nullable=False, server_default=""),
    Column("dlt_entity_id", String(64), nullable=False, server_default=""),
    Column("dlt_template_id", String(64), nullable=False, server_default=""),
    Column("dlt_template_category", String(32), nullable=False, server_default=""),
    Column("total_rate", String(16), nullable=False, server_default="0.00000"),
    Column("channel", String(64), nullable=True),
    Column("channel_ref", String(100), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("callback_seq", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(40), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Column("dlr_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("text_replaced", Boolean, nullable=False, server_default=text("false")),
    #: ``face/user`` for a face with users of its own (``smstools-api/lvv``); "" otherwise.
    Column("submitted_by", String(100), nullable=False, server_default=""),
    #: An outbound reply: the inbound message it answers.
    Column("reply_to", String(36), nullable=True),
    #: An inbound message's standard keyword: ``optout``, ``optin``, ``help`` or "".
    Column("intent", String(8), nullable=False, server_default=""),
    Index("ix_messages_account_time", "account_id", "created_at"),
    Index("ix_messages_channel_ref", "channel", "channel_ref"),
    Index(
        "ux_messages_inbound_ref",
        "channel",
        "channel_ref",
        unique=True,
        sqlite_where=text("direction = 'inbound' AND channel_ref IS NOT NULL"),
        postgresql_where=text("direction = 'inbound' AND channel_ref IS NOT NULL"),
    ),
    Index("ix_messages_from", "from_number", "created_at"),
    Index("ix_messages_to", "to_number", "created_at"),
    Index(
        "ix_messages_queue",
        "next_attempt_at",
        sqlite_where=text("state = 'queued' AND claimed_by IS NULL"),
        postgresql_where=text("state = 'queued' AND claimed_by IS NULL"),
    ),
    Index(
        "ix_messages_account_queue",
        "account_id",
        "next_attempt_at",
        sqlite_where=text("state = 'queued' AND claimed_by IS NULL"),
        postgresql_where=text("state = 'queued' AND claimed_by IS NULL"),
    ),
    Index(
        "ix_messages_expiry",
        "expires_at",
        sqlite_where=text("state = 'queued'"),
        postgresql_where=text("state = 'queued'"),
    ),
    Index(
        "ix_messages_claimed",
        "claimed_by",
        sqlite_where=text("claimed_by IS NOT NULL"),
        postgresql_where=text("claimed_by IS NOT NULL"),
    ),
)

#: One row per part a channel handed over with its own reference (a modem's TP-MR, an SMSC's
#: message id): delivery reports name parts, and the message is settled when they all are.
message_parts = Table(
    "message_parts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_uuid", String(36), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ref", String(100), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("state", String(12), nullable=False),
    Column("error_code", String(8), nullable=False, server_default=""),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_message_parts_ref", "channel", "ref"),
    Index("ix_message_parts_message", "message_uuid"),
)

#: Tokens a face authenticates with instead of auth_id/auth_token (the SMSSender API's
#: access-token), stored as SHA-256 digests: they are random, so a fast digest suffices.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("face", String(32), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(100), nullable=False, server_default=""),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

#: Pass codes for the send page, stored as SHA-256 digests (they are random): see
#: ``core/passcodes.py``. ``destinations`` is a JSON list of patterns, "" for any number.
pass_codes = Table(
    "pass_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_by", String(100), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("max_messages", Integer, nullable=True),
    Column("used_messages", Integer, nullable=False, server_default="0"),
    Column("destinations", Text, nullable=False, server_default=""),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Index("ix_pass_codes_account", "account_id"),
)

#: Allow and deny rules on destinations and sender IDs (``core/permissions.py``). ``subject``
#: is ``account:<id>`` or a submitter (``passcode/<id>``, ``smstools-api/<user>``, …).
permission_rules = Table(
    "permission_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subject", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("effect", String(8), nullable=False),
    Column("pattern", String(64), nullable=False),
    Column("note", String(200), nullable=False, server_default=""),
    Column("created_by", String(100), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_permission_rules_subject", "subject"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_uuid", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(12), nullable=False),
    Column("error_code", String(8), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_message_events_message", "message_uuid"),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("message_uuid", String(36), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(4), nullable=False),
    Column("params", Text, nullable=False),
    Column("private", Boolean, nullable=False, server_default=text("false")),
    Column("state", String(12), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(40), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    #: Tried until then (inbound forwarding), whatever the attempts; else ``max_attempts``
    #: (the row's own, or the settings').
    Column("deadline", BigInteger, nullable=True),
    Column("max_attempts", Integer, nullable=True),
    Index("ix_callbacks_message", "message_uuid"),
    Index(
        "ix_callbacks_due",
        "next_attempt_at",
        sqlite_where=text("state = 'pending' AND claimed_by IS NULL"),
        postgresql_where=text("state = 'pending' AND claimed_by IS NULL"),
    ),
)

#: Applications receive an account's inbound messages at ``message_url`` (Plivo's XML apps).
applications = Table(
    "applications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("app_id", String(32), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("message_url", Text, nullable=True),
    Column("message_method", String(4), nullable=False, server_default="POST"),
    Column("log_incoming_messages", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_applications_account", "account_id"),
)

#: Numbers and short codes an account owns: what arrives for one is the account's, and goes
#: to its application. ``channel`` NULL: on any channel.
numbers = Table(
    "numbers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("application_id", Id, ForeignKey("applications.id"), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("alias", String(200), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_numbers_account", "account_id"),
)

#: Keyword rules: inbound messages that match go to a handler instead of the application.
keyword_rules = Table(
    "keyword_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("destination", String(64), nullable=False, server_default=""),
    Column("keyword", String(64), nullable=False, server_default=""),
    Column("senders", Text, nullable=False, server_default=""),
    Column("handler", Text, nullable=False),
    Column("method", String(4), nullable=False, server_default="POST"),
    Column("max_attempts", Integer, nullable=False, server_default="5"),
    Column("priority", Integer, nullable=False, server_default="100"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("note", String(200), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_keyword_rules_account", "account_id"),
)

#: Numbers that said STOP to an account: its sends to them fail with error 200.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("number", String(32), nullable=False),
    Column("keyword", String(32), nullable=False, server_default=""),
    Column("message_uuid", String(36), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("account_id", "number", name="uq_opt_outs_account_number"),
)

#: One-time links a handler hands out (``GET /l/<token>``), stored as SHA-256 digests.
links = Table(
    "links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("message_uuid", String(36), nullable=True),
    Column("rule_id", Id, nullable=True),
    Column("kind", String(8), nullable=False),
    Column("target", Text, nullable=False),
    Column("content_type", String(100), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("opened_at", BigInteger, nullable=True),
    Column("opened_ip", String(64), nullable=False, server_default=""),
    Column("opened_agent", String(300), nullable=False, server_default=""),
    Index("ix_links_message", "message_uuid"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)

#: Credentials of applications that bind to the SMPP server face (``smpp_server/``).
#: ``binds``: the bind modes allowed, a comma list of transmitter, receiver, transceiver;
#: ``submit_rate``: submit PDUs per system_id (``50/s``; "" for none).
smpp_users = Table(
    "smpp_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("system_id", String(15), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=False),
    Column("binds", String(40), nullable=False, server_default="transmitter,receiver,transceiver"),
    Column("max_binds", Integer, nullable=False, server_default="4"),
    Column("submit_rate", String(24), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_smpp_users_account", "account_id"),
)

#: Parts of concatenated messages an ESME submitted, kept until the last one arrives (then
#: the message is stored and they go, in one transaction) or for ten minutes. ``group_id``
#: is fixed by the first part; ``started_at`` is that part's time, on every row of the group;
#: ``text`` is the part's text as UTF-8 (surrogatepass: a UCS-2 part may end inside a pair).
smpp_parts = Table(
    "smpp_parts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("group_id", String(32), nullable=False),
    Column("system_id", String(15), nullable=False),
    Column("src", String(32), nullable=False),
    Column("dst", String(32), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("text", LargeBinary, nullable=False),
    Column("registered_delivery", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    UniqueConstraint(
        "system_id", "src", "dst", "reference", "total", "seq", name="uq_smpp_parts_part"
    ),
    Index("ix_smpp_parts_group", "group_id"),
    Index("ix_smpp_parts_started", "started_at"),
)
