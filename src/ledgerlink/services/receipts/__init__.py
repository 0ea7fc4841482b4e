"""Receipts and shipping from merchants (issue 11, docs/receipts.md)."""
