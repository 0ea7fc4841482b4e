"""One TLS client context per process for the platform's HTTP clients. httpx builds a new one
(loading the CA bundle, ~50 ms) for every client otherwise; every client verifies the same way."""

from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
