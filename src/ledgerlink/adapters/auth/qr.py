"""`QrCodes` on segno: an inline SVG element, dark on white whatever the page's colour scheme
(scanners need the contrast), with a title for screen readers."""

from __future__ import annotations

import segno

__all__ = ["SegnoQrCodes"]


class SegnoQrCodes:
    def svg(self, data: str, *, title: str) -> str:
        code = segno.make(data, error="m", micro=False)
        return str(code.svg_inline(scale=5, border=3, dark="#000", light="#fff", title=title,
                                   svgclass="qr", omitsize=True))
