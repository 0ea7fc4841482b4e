"""`TotpCodes` on pyotp: RFC 6238 with the parameters every authenticator app reads (6 digits,
30-second steps, HMAC-SHA-1, a 160-bit key)."""

from __future__ import annotations

from datetime import datetime

import pyotp
from pyotp.utils import strings_equal

__all__ = ["PyOtpCodes"]


class PyOtpCodes:
    def new_secret(self) -> str:
        return pyotp.random_base32(32)  # 160 bits (RFC 4226's recommendation)

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)

    def matching_step(self, secret: str, code: str, *, at: datetime, window: int) -> int | None:
        """Every step of the window is computed and compared in constant time, so the answer's
        timing does not tell which step matched."""
        totp = pyotp.TOTP(secret)
        now = totp.timecode(at)
        found = None
        for step in range(now - window, now + window + 1):
            if strings_equal(code, totp.generate_otp(step)) and found is None:
                found = step
        return found
