"""`Cache-Control: no-store` on every answer that does not say otherwise (issue 14): pages,
JSON answers, problem documents, redirects and downloads carry personal data or may, so no
browser, proxy or shared cache keeps a copy. Static assets and answers that set their own
Cache-Control (the public JWKS) are left as they are."""

from __future__ import annotations

from typing import Any

__all__ = ["NoStoreByDefault"]

_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


class NoStoreByDefault:
    """Raw ASGI, outermost: it also covers the bank-event fast path and the 500 handler."""

    def __init__(self, app: Any, *, cacheable_prefixes: tuple[str, ...] = ("/static/",)) -> None:
        self.app = app
        self._cacheable = cacheable_prefixes

    def __getattr__(self, name: str) -> Any:
        # `.state`, `.openapi()`, `.routes`...: the wrapped app answers.
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self._cacheable):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == _CACHE_CONTROL for name, _ in headers):
                    message = {**message, "headers": [*headers, _NO_STORE]}
            await send(message)

        await self.app(scope, receive, send_no_store)
