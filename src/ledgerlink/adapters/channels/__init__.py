"""Outside channels behind the `ledgerlink.services.ports.Channel` port."""

from ledgerlink.adapters.channels.email import SmtpChannel
from ledgerlink.adapters.channels.webhook import WebhookChannel, parse_retry_after

__all__ = ["SmtpChannel", "WebhookChannel", "parse_retry_after"]
