"""Tables. Sensitive values live only in `sealed*` columns (AES-GCM, per-person keys).

Money in storage is integer minor units inside the sealed JSON; the currency code is clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (no time zones) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


persons = Table(
    "persons",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("handle", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("erased_at", UtcDateTime()),
    Column("disclosure", String(16), nullable=False, server_default="full"),
    Column("zone", String(64)),  # IANA time zone (issue 13, person time zone); None: not chosen yet
)

partners = Table(
    "partners",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("webhook_secrets", JSON, nullable=False),
    Column("api_key_hash", String(128)),  # partner API credential (hashed); None: no API access
    Column("created_at", UtcDateTime(), nullable=False),
    # Bank dialogue (docs/bank-dialogue.md): the bank's issuer URL and public signing keys.
    Column("issuer", String(512)),
    Column("jwks", JSON),
)

links = Table(
    "links",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("partner_id", String(40), ForeignKey("partners.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("state", String(64), unique=True),
    Column("sealed_secrets", LargeBinary),
    Column("bank_consent_id", String(128)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("token_expires_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("revoked_by", String(16)),
    Column("failure_code", String(64)),
    Index("ix_links_consent", "partner_id", "bank_consent_id"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("link_id", String(40), ForeignKey("links.id"), nullable=False, index=True),
    Column("partner_id", String(40), ForeignKey("partners.id"), nullable=False),
    Column("bank_account_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("number_token", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("sync_cursor", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("balance_sealed", LargeBinary),
    Column("balance_as_of", UtcDateTime()),
    UniqueConstraint("link_id", "bank_account_id", name="uq_accounts_link_bank_account"),
    Index("ix_accounts_bank", "partner_id", "bank_account_id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("source_key", String(128), nullable=False),
    Column("pending_source_key", String(128)),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("booking_date", Date),
    Column("value_date", Date),
    Column("mcc", String(4)),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("account_id", "source_key", name="uq_transactions_account_source"),
    Index("ix_transactions_pending", "account_id", "pending_source_key"),
    Index("ix_transactions_account_created", "account_id", "created_at"),  # an account's latest (0022)
    Index("ix_transactions_account_updated", "account_id", "updated_at"),  # changed since (0023)
)

threads = Table(
    "threads",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(128), nullable=False),
    Column("partner_id", String(40), ForeignKey("partners.id")),
    Column("link_id", String(40), ForeignKey("links.id"), unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_rev", BigInteger, nullable=False, default=0),
    Column("last_seq", BigInteger, nullable=False, default=0),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("thread_id", String(40), ForeignKey("threads.id"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("rev", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("subject_key", String(96)),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("edited_at", UtcDateTime()),
    UniqueConstraint("thread_id", "seq", name="uq_messages_thread_seq"),
    UniqueConstraint("thread_id", "rev", name="uq_messages_thread_rev"),
    UniqueConstraint("thread_id", "subject_key", name="uq_messages_thread_subject"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("partner_id", String(40), ForeignKey("partners.id"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id")),
    Column("event_type", String(64), nullable=False),
    Column("sealed", LargeBinary),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("processed_at", UtcDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(64)),
    Index("ix_inbox_unprocessed", "processed_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 0-based leaf index
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("person_id", String(40), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),
    Column("action", String(48), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("leaf_hash", String(64), nullable=False),  # hex, RFC 6962 leaf hash of the entry
)

audit_tree_heads = Table(
    "audit_tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("signed_at", UtcDateTime(), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", Text, nullable=False),  # base64 Ed25519 over the canonical head
)

consent_receipts = Table(
    "consent_receipts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("link_id", String(40), ForeignKey("links.id"), nullable=False, index=True),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # the compact JWS, sealed with the person's key
)

dp_budgets = Table(
    "dp_budgets",
    metadata,
    Column("partner_id", String(40), ForeignKey("partners.id"), primary_key=True),
    Column("epsilon_limit_micro", BigInteger, nullable=False),  # epsilon x 1e6 per period
    Column("period", String(16), nullable=False),  # "month"
)

dp_spend = Table(
    "dp_spend",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("partner_id", String(40), ForeignKey("partners.id"), nullable=False),
    Column("period_key", String(16), nullable=False),  # e.g. "2026-11"
    Column("query", String(200), nullable=False),
    Column("epsilon_micro", BigInteger, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_dp_spend_partner_period", "partner_id", "period_key"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("partner_id", String(40), ForeignKey("partners.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),  # SHA-256 of method, path and body
    Column("status", Integer, nullable=False),  # 0 while the first request is in progress
    Column("response", Text),  # the JSON body answered the first time
    Column("created_at", UtcDateTime(), nullable=False),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # low_balance, large_purchase, mute_merchant, ...
    Column("account_id", String(40), ForeignKey("accounts.id")),  # None: every account
    Column("sealed", LargeBinary, nullable=False),  # JSON parameters (thresholds, merchant names)
    Column("enabled", Integer, nullable=False, default=1),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

person_channels = Table(
    "person_channels",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # webhook | email
    Column("sealed", LargeBinary, nullable=False),  # JSON config: URL and secret, or address
    Column("status", String(16), nullable=False),  # active | disabled
    Column("disabled_reason", String(64)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

channel_deliveries = Table(
    "channel_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("channel_id", String(40), ForeignKey("person_channels.id"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("message_id", String(40), nullable=False),
    Column("rev", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | superseded | failed | gave_up
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", String(64)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("channel_id", "message_id", "rev", name="uq_channel_deliveries_message_rev"),
    Index("ix_channel_deliveries_due", "status", "next_attempt_at"),
)

# --------------------------------------------------------------------------- bank dialogue
# Fraud prompts, the outbox of signed requests to banks, and the ids of messages banks posted
# (docs/bank-dialogue.md). Ids and states only: what was said is in the sealed messages.

prompts = Table(
    "prompts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("thread_id", String(40), nullable=False),
    Column("link_id", String(40), nullable=False),
    Column("partner_id", String(40), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("bank_ref", String(128), nullable=False),  # the bank's alert id
    Column("kind", String(16), nullable=False),  # fraud
    Column("message_id", String(40), nullable=False),
    Column("reminder_message_id", String(40)),
    Column("status", String(16), nullable=False),  # open | answered | expired
    Column("reply_ids", String(200), nullable=False),  # the allowed replies, comma-separated
    Column("answer", String(32)),
    Column("answered_via", String(16)),
    Column("answered_at", UtcDateTime()),
    Column("remind_at", UtcDateTime()),
    Column("reminded_at", UtcDateTime()),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("partner_id", "bank_ref", name="uq_prompts_partner_ref"),
    Index("ix_prompts_message", "message_id"),
    Index("ix_prompts_status_expires", "status", "expires_at"),
)

bank_outbox = Table(
    "bank_outbox",
    metadata,
    Column("id", String(40), primary_key=True),  # also the request's jti and Idempotency-Key
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("link_id", String(40), nullable=False),
    Column("partner_id", String(40), nullable=False),
    Column("kind", String(24), nullable=False),  # fraud_answer | service_message
    Column("ref", String(40), nullable=False),  # the prompt id, or the person's message id
    Column("status", String(16), nullable=False),  # pending | sent | refused | gave_up
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", String(64)),
    Column("outcome", String(32)),  # the bank's short answer, e.g. card_frozen
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "ref", name="uq_bank_outbox_kind_ref"),
    Index("ix_bank_outbox_due", "status", "next_attempt_at"),
)

bank_messages = Table(
    "bank_messages",
    metadata,
    Column("partner_id", String(40), primary_key=True),
    Column("bank_message_id", String(128), primary_key=True),  # the JWS jti
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("message_id", String(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

# --------------------------------------------------------------------------- read state, digests
# Read state is ids and counters only. Digest settings and held alerts are sealed; the clear
# columns are what the scheduler needs to find due work (docs/messenger.md "Digests").

thread_reads = Table(
    "thread_reads",
    metadata,
    Column("person_id", String(40), ForeignKey("persons.id"), primary_key=True),
    Column("thread_id", String(40), ForeignKey("threads.id"), primary_key=True),
    Column("last_read_seq", BigInteger, nullable=False, default=0),  # never goes backwards
    Column("updated_at", UtcDateTime(), nullable=False),
)

digest_settings = Table(
    "digest_settings",
    metadata,
    Column("person_id", String(40), ForeignKey("persons.id"), primary_key=True),  # no row: off
    Column("sealed", LargeBinary, nullable=False),  # JSON: frequency, hour, weekday, utc_offset
    Column("next_due_at", UtcDateTime(), nullable=False, index=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

digests_sent = Table(
    "digests_sent",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False),
    Column("period_key", String(40), nullable=False),  # e.g. "daily:2026-11-26" (last local day)
    Column("sent_at", UtcDateTime(), nullable=False),
    UniqueConstraint("person_id", "period_key", name="uq_digests_sent_person_period"),
)

held_alerts = Table(
    "held_alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("thread_id", String(40), ForeignKey("threads.id"), nullable=False),
    Column("subject_key", String(96), nullable=False),  # the alert's fact: alerted once, ever
    Column("sealed", LargeBinary),  # JSON: kind, text; dropped once released into a digest
    Column("held_at", UtcDateTime(), nullable=False),
    Column("release_after", UtcDateTime(), nullable=False),  # when the quiet hours end
    Column("released_at", UtcDateTime()),
    Column("released_in", String(48)),  # the digest's period key, or "away:<first held id>"
    UniqueConstraint("thread_id", "subject_key", name="uq_held_alerts_thread_subject"),
    Index("ix_held_alerts_pending", "released_at", "release_after"),
)

# --------------------------------------------------------------------------- connection health
# Message templates: failing syncs and the "needs your attention" episode of each link. Codes
# and times only.

link_health = Table(
    "link_health",
    metadata,
    Column("link_id", String(40), ForeignKey("links.id"), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("failing_since", UtcDateTime()),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", String(64)),
    Column("attention_at", UtcDateTime()),
    Column("episodes", Integer, nullable=False, default=0),
    Column("updated_at", UtcDateTime(), nullable=False),
)

FINANCIAL_TABLES = frozenset(
    {"accounts", "transactions", "messages", "inbox", "links", "alert_rules", "held_alerts"}
)

# --------------------------------------------------------------------------- Matrix channel
# One direct room per (Matrix channel, thread), the first event of each message sent there
# (later revisions are m.replace edits of it), inbound events already handled, and the bot's
# sync token (ADR 0012). Ids only: the person's Matrix ID is in the channel's sealed config.

matrix_rooms = Table(
    "matrix_rooms",
    metadata,
    Column("room_id", String(255), primary_key=True),
    Column("channel_id", String(40), ForeignKey("person_channels.id", ondelete="CASCADE"), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("thread_id", String(40), ForeignKey("threads.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("channel_id", "thread_id", name="uq_matrix_rooms_channel_thread"),
)

matrix_events = Table(
    "matrix_events",
    metadata,
    Column("channel_id", String(40), ForeignKey("person_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("room_id", String(255), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("delivery_id", String(40), nullable=False),  # the delivery that sent it (its txn id)
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_matrix_events_room_event", "room_id", "event_id"),
)

matrix_inbound = Table(
    "matrix_inbound",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("room_id", String(255), nullable=False),
    Column("handled_at", UtcDateTime(), nullable=False),
)

matrix_sync = Table(
    "matrix_sync",
    metadata,
    Column("user_id", String(255), primary_key=True),  # the bot
    Column("next_batch", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Sign-in sessions (issue 14, ADR 0019): one row per signed-in browser. The cookie holds a random
# token; the row is keyed by its SHA-256, so a copy of the database holds no usable session.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # hex SHA-256 of the cookie's token
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),  # absolute: created_at + 14 days
    Column("confirmed_at", UtcDateTime(), nullable=False),  # the person last proved it is them
    Column("confirmed_with", String(16), nullable=False, server_default="password"),  # or second_factor
)

# Second factor (issue 14, ADR 0021). The TOTP key is a credential: sealed to its row with the
# person's key. Passkeys keep only public values; recovery codes only Argon2id hashes.
totp_factors = Table(
    "totp_factors",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, unique=True),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("confirmed_at", UtcDateTime()),  # None while being set up: not a factor yet
    Column("last_step", BigInteger, nullable=False),  # the last accepted RFC 6238 time step
    Column("last_used_at", UtcDateTime()),
)

passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("credential_id", LargeBinary, nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),  # COSE
    Column("sign_count", BigInteger, nullable=False),
    Column("name", String(64), nullable=False),
    Column("transports", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("selector", String(8), nullable=False),
    Column("code_hash", String(200), nullable=False),  # Argon2id of the code's secret part
    Column("created_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
)

# The half-state between the password and the second step: no session until it passes.
pending_sign_ins = Table(
    "pending_sign_ins",
    metadata,
    Column("id", String(64), primary_key=True),  # hex SHA-256 of the cookie's token
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("owner", String(64), primary_key=True),  # the session's or pending sign-in's id
    Column("purpose", String(16), primary_key=True),  # register | sign_in | confirm
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("challenge", LargeBinary, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

security_events = Table(
    "security_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", String(200), nullable=False),
    Index("ix_security_events_person_at", "person_id", "at"),
)

# --------------------------------------------------------------------------- Messenger and WhatsApp
# Issue 15, ADR 0023. The PSID or phone number is sealed in the channel's config; here only a
# keyed digest of it (`address_key`). Everything of a channel goes with it (ON DELETE CASCADE).

platform_bindings = Table(
    "platform_bindings",
    metadata,
    Column("channel_id", String(40), ForeignKey("person_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("platform", String(16), nullable=False),  # messenger | whatsapp
    Column("address_key", String(64), nullable=False),  # HMAC of the PSID / number
    Column("last_inbound_at", UtcDateTime()),  # the person's last message: the 24-hour window
    Column("current_thread_id", String(40)),  # where the person's words go
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("platform", "address_key", name="uq_platform_bindings_address"),
)

platform_messages = Table(
    "platform_messages",
    metadata,
    Column("channel_id", String(40), ForeignKey("person_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("first_mid", String(255), nullable=False),  # the platform's id of the first message shown
    Column("state_key", String(64), nullable=False),  # HMAC of what the conversation shows now
    Column("sealed", LargeBinary),  # Messenger: the first text shown, for an update to quote
    Column("level", String(32)),  # the disclosure level that text was cut at
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

platform_sends = Table(
    "platform_sends",
    metadata,
    Column("mid", String(255), primary_key=True),  # mid / wamid
    Column("channel_id", String(40), ForeignKey("person_channels.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("message_id", String(40)),
    Column("status", String(16), nullable=False),  # accepted | sent | delivered | read | failed
    Column("error_code", String(32)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

platform_codes = Table(
    "platform_codes",
    metadata,
    Column("code_key", String(64), primary_key=True),  # SHA-256 / HMAC of the code
    Column("platform", String(16), nullable=False),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("address_key", String(64)),  # the PSID / number it was made for
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
)

platform_events_seen = Table(
    "platform_events_seen",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("event_key", String(255), primary_key=True),  # a message id or a digest: no content
    Column("seen_at", UtcDateTime(), nullable=False, index=True),
)

# --------------------------------------------------------------------------- statement imports
# Issue 10, ADR 0022. Tokens are keyed (HMAC under the person's sealed import key): no account
# number, file content or entry text is stored in clear. Rows hanging off an account or a
# transaction go with it (retention, erasure).

import_keys = Table(
    "import_keys",
    metadata,
    Column("person_id", String(40), ForeignKey("persons.id"), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),  # JSON: the person's token key
    Column("created_at", UtcDateTime(), nullable=False),
)

statement_imports = Table(
    "statement_imports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("file_token", String(64), nullable=False),  # keyed token of the file's bytes
    Column("format", String(8), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("merged", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("thread_id", String(40), ForeignKey("threads.id", ondelete="CASCADE")),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("person_id", "file_token", name="uq_statement_imports_person_file"),
)

statement_entries = Table(
    "statement_entries",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("entry_key", String(64), primary_key=True),  # keyed token of the entry's identity
    Column("transaction_id", String(40), ForeignKey("transactions.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("import_id", String(40), nullable=False),
)

csv_mappings = Table(
    "csv_mappings",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),  # JSON: the CsvMapping used last
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The refresh planner's attempt log (issue 10, docs/refresh.md): one row per request to a
# bank-data provider, stored before it goes out (result "pending") and finished with its answer.
# Ids, instants and counts only, no personal data; target_id is an account id (a link id for
# SimpleFIN, whose one request covers every account of a token).
refresh_attempts = Table(
    "refresh_attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("target_id", String(40), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("attended", Integer, nullable=False, default=0),
    Column("result", String(16), nullable=False),
    Column("retry_at", UtcDateTime()),
    Column("quotas", Text),  # JSON: [[scope, remaining, reset_at ISO, limit|null], ...]
    Column("scopes", String(200), nullable=False, default=""),  # space-separated
    Index("ix_refresh_attempts_target_at", "target_id", "at"),
)

# Insights (issue 13, docs/insights.md): the person's category corrections and monthly budgets.
# Merchant keys, categories and amounts are sealed (they say what someone buys); in clear: ids,
# instants and the budget warning state (a month and a percentage).
category_corrections = Table(
    "category_corrections",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),  # JSON: merchant_key, merchant, category, said_on
    Column("created_at", UtcDateTime(), nullable=False),
)

budgets = Table(
    "budgets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),  # JSON: category, amount, currency
    Column("warned_month", String(7)),  # "2026-12": the month of the latest warning
    Column("warned_level", Integer, nullable=False, default=0),  # 0, 80 or 100 in that month
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The insight consumer's blind index (issue 12, ADR 0033): per transaction, a keyed tag
# (HMAC-SHA256 under the person's sealed insight key) of its series (cleaned merchant,
# currency, direction), so one merchant's rows are read, not the whole history. No merchant
# in clear; a tag means nothing without the key. Tagged as of the row's `updated_at`.
insight_keys = Table(
    "insight_keys",
    metadata,
    Column("person_id", String(40), ForeignKey("persons.id"), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),  # JSON: the person's tag key
    Column("created_at", UtcDateTime(), nullable=False),
)

insight_tags = Table(
    "insight_tags",
    metadata,
    Column("transaction_id", String(40), ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("account_id", String(40), nullable=False),
    Column("tag", String(64), nullable=False),
    Column("tagged_at", UtcDateTime(), nullable=False),  # the row's updated_at when it was tagged
    Column("amount_tag", String(64)),  # keyed HMAC of the row's amount in its series (0023)
    Index("ix_insight_tags_account_tag", "account_id", "tag"),
)

# How far each account's rows are tagged (0023, ADR 0033): every row changed at or before
# `through` has a current tag, so a scan reads only rows changed since; the whole range is
# scanned again daily (`full_at`).
insight_scans = Table(
    "insight_scans",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("through", UtcDateTime(), nullable=False),
    Column("full_at", UtcDateTime(), nullable=False),
)

# Scale-out profile (issue 12, ADR 0027): the transactional outbox. With the NATS profile, the
# events a unit of work collected are written here in its own transaction, and the relay
# publishes each row to JetStream with `Nats-Msg-Id` = `id`, then deletes it. Ids, the subject
# and the event's fields (ids only, as every event) in JSON; no personal data.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("subject", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# --------------------------------------------------------------------------- receipts (issue 11)
# A merchant's orders as receipts: line items, totals, parcel and card last 4 are sealed (they
# say what someone buys and where it goes); in clear: ids, the shop's order number (the key
# its events name), the matched transaction and the match state.
merchant_links = Table(
    "merchant_links",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("merchant_slug", String(60), nullable=False),
    Column("customer_ref", String(200), nullable=False),  # the shop's customer id
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("merchant_slug", "customer_ref", name="uq_merchant_links_merchant_slug"),
)

shop_orders = Table(
    "shop_orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("merchant_slug", String(60), nullable=False),
    Column("order_ref", String(200), nullable=False),
    Column("transaction_id", String(40), index=True),  # the bank's charge it matched; None: waiting
    Column("match_state", String(20), nullable=False),  # waiting | matched | doubtful
    Column("sealed", LargeBinary, nullable=False),  # JSON: domain/receipts.receipt_to_json + why
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("merchant_slug", "order_ref", name="uq_shop_orders_merchant_slug"),
)

shop_order_charges = Table(  # an order's further charges (a split shipment: one per parcel)
    "shop_order_charges",
    metadata,
    Column("transaction_id", String(40), primary_key=True),
    Column("order_id", String(40), nullable=False, index=True),  # shop_orders.id, written with it
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
)

merchant_consents = Table(  # linking a shop with OAuth + PKCE (issue 11, ADR 0031, migration 0021)
    "merchant_consents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("merchant_slug", String(60), nullable=False),
    Column("status", String(20), nullable=False),  # pending | exchanging | active | revoked | expired | ...
    Column("state", String(64), unique=True),  # the OAuth state (kept: a replay is recognised)
    Column("scopes", String(200), nullable=False),
    Column("sealed", LargeBinary),  # JSON, the person's key: the PKCE verifier, then the tokens
    Column("link_id", String(40), index=True),  # merchant_links.id once active
    Column("renews", String(40)),
    Column("expires_at", UtcDateTime()),
    Column("cursor", String(400)),  # the shop's orders feed cursor (opaque)
    Column("synced_at", UtcDateTime()),
    Column("receipt_jws", Text),  # the signed consent receipt (ids, the shop, scopes, purposes)
    Column("ended_by", String(20)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

merchant_order_versions = Table(  # the newest version of each shop order applied (issue 11)
    "merchant_order_versions",
    metadata,
    Column("merchant_slug", String(60), primary_key=True),
    Column("order_ref", String(200), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

bank_refunds = Table(  # a bank's refund transaction and the purchase it gives back (issue 11)
    "bank_refunds",
    metadata,
    Column("refund_transaction_id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("original_transaction_id", String(40), nullable=False, index=True),
    Column("rule", String(20), nullable=False),  # domain/receipts.RefundLink.rule
    Column("created_at", UtcDateTime(), nullable=False),
)

merchant_aliases = Table(  # the person's "yes, that charge was this shop" (issue 11)
    "merchant_aliases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("merchant_slug", String(60), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # JSON: the cleaned descriptor and the shop
    Column("created_at", UtcDateTime(), nullable=False),
)

receipt_addresses = Table(  # a person's private receipt-forwarding address (issue 11, emails)
    "receipt_addresses",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the random local part
    Column("sealed", LargeBinary, nullable=False),  # JSON: the local part, to show it again
    Column("created_at", UtcDateTime(), nullable=False),
)

merchant_events = Table(  # seen webhook ids: a replayed merchant event is refused
    "merchant_events",
    metadata,
    Column("merchant_slug", String(60), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("received_at", UtcDateTime(), nullable=False),
)

parcels = Table(  # a parcel followed from a tracking number pasted into a thread (issue 11)
    "parcels",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("person_id", String(40), ForeignKey("persons.id"), nullable=False, index=True),
    Column("thread_id", String(40), nullable=False),
    Column("carrier", String(12), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # JSON: the number (personal data)
    Column("status", String(24), nullable=False),
    Column("notified", String(120), nullable=False),  # the steps already told, comma-joined
    Column("active", Integer, nullable=False),  # 1 while it moves, 0 once delivered or back
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
