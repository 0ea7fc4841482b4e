"""Signing in: server-side sessions that can be ended, throttled sign-in and sign-up, and the
password asked again before sensitive actions (issue 14, ADR 0019)."""
