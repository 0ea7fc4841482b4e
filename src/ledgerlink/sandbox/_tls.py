"""The sandbox's own TLS client context, one per process (the sandbox is a peer of the platform
and shares no code with it; see docs/architecture.md)."""

from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
