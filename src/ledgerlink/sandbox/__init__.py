"""The built-in sandbox bank: an OAuth 2 authorization server, an open-banking data API,
signed event push and an activity simulator, standing in for a real partner bank.

It imports nothing of ledgerlink but the domain, and the platform never imports it: it is
reached only over HTTP, exactly like a real bank. See docs/sandbox-bank.md.
"""

from ledgerlink.sandbox.app import create_sandbox_app
from ledgerlink.sandbox.bank import SandboxBank
from ledgerlink.sandbox.config import OAuthClientConfig, SandboxConfig
from ledgerlink.sandbox.simulator import Activity, Simulator

__all__ = ["Activity", "OAuthClientConfig", "SandboxBank", "SandboxConfig", "Simulator",
           "create_sandbox_app"]
