"""The few HTML pages the provider simulators show: every one says plainly that it is a
simulator, never a real bank or provider, and holds no real data."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi.responses import HTMLResponse

__all__ = ["SIMULATOR_BANNER", "consent_page", "plain_page"]

SIMULATOR_BANNER = "SIMULATOR - not a real bank or provider. No real money or data here."

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
          ".sim{background:#fff3cd;border:2px dashed #b58100;padding:.6rem;font-weight:bold}"
          "button{font-size:1rem;margin:.3rem .5rem .3rem 0;padding:.4rem 1rem}"
          "code{word-break:break-all;background:#f4f4f4;padding:.2rem}")
_HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><p class=sim role=note>"
            f"{escape(SIMULATOR_BANNER)}</p><h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def plain_page(title: str, paragraphs: Sequence[str], *, code: str | None = None,
               status: int = 200) -> HTMLResponse:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if code is not None:
        body += f"<p><code id=token>{escape(code)}</code></p>"
    return _page(title, body, status)


def consent_page(*, provider: str, bank: str, action: str, form_token: str,
                 accounts: Sequence[str], valid_until: str) -> HTMLResponse:
    """The simulated bank login + consent: one form, Approve or Decline."""
    items = "".join(f"<li>{escape(a)}</li>" for a in accounts)
    body = (f"<p>{escape(provider)} simulator: <strong>{escape(bank)}</strong> asks whether "
            f"this application may read the balances and transactions of:</p><ul>{items}</ul>"
            f"<p>Until {escape(valid_until)}.</p>"
            f"<form method=post action=\"{escape(action)}\">"
            f"<input type=hidden name=form_token value=\"{escape(form_token)}\">"
            "<button name=decision value=approve>Approve</button>"
            "<button name=decision value=deny>Decline</button></form>")
    return _page(f"{bank} (simulated)", body)
