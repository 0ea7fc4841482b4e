"""Simulators of the real bank-data providers (SimpleFIN Bridge, Enable Banking, GoCardless
Bank Account Data): each its own ASGI app speaking the provider's documented protocol, on an
injected clock, with deterministic data. Every page they show says it is a simulator.
See docs/providers.md. Like the sandbox bank, they import nothing of ledgerlink but the domain.
"""

from ledgerlink.sandbox.providers._data import SimAccount, SimLedger, SimTransaction
from ledgerlink.sandbox.providers.enablebanking import (
    Aspsp,
    EnableBankingConfig,
    EnableBankingState,
    create_enablebanking_app,
)
from ledgerlink.sandbox.providers.gocardless import (
    GoCardlessConfig,
    GoCardlessState,
    SimInstitution,
    create_gocardless_app,
)
from ledgerlink.sandbox.providers.simplefin import SimpleFinBridge, SimpleFinConfig, create_simplefin_app

__all__ = [
    "Aspsp",
    "EnableBankingConfig",
    "EnableBankingState",
    "GoCardlessConfig",
    "GoCardlessState",
    "SimAccount",
    "SimInstitution",
    "SimLedger",
    "SimTransaction",
    "SimpleFinBridge",
    "SimpleFinConfig",
    "create_enablebanking_app",
    "create_gocardless_app",
    "create_simplefin_app",
]
