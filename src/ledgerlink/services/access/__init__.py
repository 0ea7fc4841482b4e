"""The access layer: the only code that seals or opens personal data.

Every function takes the grant (on whose behalf) and the purpose (why); every read writes
an audit entry. A record that belongs to someone else is reported exactly like a record
that does not exist. One module per kind of data; callers use this package's names
(`access.read_accounts`), so the gate stays one place to read and to check.
"""

from __future__ import annotations

from ledgerlink.domain.alerts import AlertRule, HeldAlertView
from ledgerlink.domain.banking import AccountView
from ledgerlink.services.access._gate import audit
from ledgerlink.services.access.accounts import (
    TransactionChange,
    create_account,
    read_account,
    read_accounts,
    read_recent_transactions,
    read_transaction,
    read_transactions_between,
    remove_transaction,
    store_balance,
    store_transaction_note,
    upsert_transaction,
)
from ledgerlink.services.access.aggregates import SpendingRow, read_spending_for_aggregate
from ledgerlink.services.access.alerts import (
    hold_alert,
    read_alert_rules,
    read_digest_settings,
    release_held_alerts,
    store_alert_rule,
    store_digest_settings,
)
from ledgerlink.services.access.channels import open_channel_configs, seal_channel_config
from ledgerlink.services.access.export import (
    ExportData,
    ExportedAlertRule,
    ExportedChannel,
    ExportedDigest,
    channel_target,
    read_for_export,
)
from ledgerlink.services.access.imports import (  # statement imports (ADR 0022)
    ImportTokens,
    has_number_token,
    import_tokens,
    normalize_identifier,
    read_csv_mapping,
    read_transactions_for_matching,
    store_csv_mapping,
    store_file_rows,
)
from ledgerlink.services.access.insights import (  # corrections and budgets (issue 13)
    SeriesTags,
    open_transactions,
    read_budgets,
    read_corrections,
    series_tags,
    store_budget,
    store_correction,
    tag_transactions,
)
from ledgerlink.services.access.links import (
    open_inbox_payload,
    open_link_secrets,
    seal_inbox_payload,
    seal_link_secrets,
    store_bank_tokens,
)
from ledgerlink.services.access.messages import (
    put_message,
    read_message_by_subject,
    read_messages,
    read_thread,
    written_view,
)
from ledgerlink.services.access.platforms import open_platform_quote, seal_platform_quote
from ledgerlink.services.access.receipts import ReceiptView, read_receipt, store_receipt
from ledgerlink.services.access.shop_receipts import (  # merchant receipts (issue 11)
    open_order,
    open_receipt_address,
    seal_receipt_address,
    store_order,
)

__all__ = [
    "AccountView",
    "AlertRule",
    "ExportData",
    "ExportedAlertRule",
    "ExportedChannel",
    "ExportedDigest",
    "HeldAlertView",
    "ImportTokens",
    "ReceiptView",
    "SeriesTags",
    "SpendingRow",
    "TransactionChange",
    "audit",
    "channel_target",
    "create_account",
    "has_number_token",
    "hold_alert",
    "import_tokens",
    "normalize_identifier",
    "open_channel_configs",
    "open_inbox_payload",
    "open_link_secrets",
    "open_order",  # issue 11
    "open_platform_quote",
    "open_receipt_address",  # issue 11
    "open_transactions",
    "put_message",
    "read_account",
    "read_accounts",
    "read_alert_rules",
    "read_budgets",
    "read_corrections",
    "read_csv_mapping",
    "read_digest_settings",
    "read_for_export",
    "read_message_by_subject",
    "read_messages",
    "read_receipt",
    "read_recent_transactions",
    "read_spending_for_aggregate",
    "read_thread",
    "read_transaction",
    "read_transactions_between",
    "read_transactions_for_matching",
    "release_held_alerts",
    "remove_transaction",
    "seal_channel_config",
    "seal_inbox_payload",
    "seal_link_secrets",
    "seal_platform_quote",
    "seal_receipt_address",  # issue 11
    "series_tags",
    "store_alert_rule",
    "store_balance",
    "store_bank_tokens",
    "store_budget",
    "store_correction",
    "store_csv_mapping",
    "store_digest_settings",
    "store_file_rows",
    "store_order",  # issue 11
    "store_receipt",
    "store_transaction_note",
    "tag_transactions",
    "upsert_transaction",
    "written_view",
]
