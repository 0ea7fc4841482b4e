"""The web messenger: pages, forms and the live WebSocket, one module per capability (ADR 0017)."""
