"""The libraries behind the second factor (ADR 0021): pyotp (TOTP), segno (QR codes) and
py_webauthn (passkeys), each behind a Protocol of `services/auth/ports.py`."""

from ledgerlink.adapters.auth.passkeys import WebAuthnPasskeys
from ledgerlink.adapters.auth.qr import SegnoQrCodes
from ledgerlink.adapters.auth.totp import PyOtpCodes

__all__ = ["PyOtpCodes", "SegnoQrCodes", "WebAuthnPasskeys"]
