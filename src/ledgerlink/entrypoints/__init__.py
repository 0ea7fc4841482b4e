"""Entry points: HTTP API, web messenger, realtime, partner webhooks, CLI."""
