"""Event bus adapters: in-process (embedded profile)."""

from ledgerlink.adapters.events.inprocess import InProcessBus

__all__ = ["InProcessBus"]
