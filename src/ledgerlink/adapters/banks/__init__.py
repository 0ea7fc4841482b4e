"""Bank connectors: one adapter per bank API, each implementing `services.linking.ports.BankConnector`."""

from ledgerlink.adapters.banks.openbanking import OpenBankingConnector

__all__ = ["OpenBankingConnector"]
