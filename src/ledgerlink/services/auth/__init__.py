"""Signing in: server-side sessions that can be ended, throttled sign-in and sign-up, a second
factor (passkeys, an authenticator app, recovery codes) and re-authentication before sensitive
actions (issue 14, ADR 0019 and ADR 0021)."""
