"""Entry points, split by kind: `web/` (the messenger: pages, forms, WebSocket), `partner/` (what
banks and merchants call), `public/` (verification anyone can run) and `cli/`; `app.py` builds
the ASGI application from them."""
