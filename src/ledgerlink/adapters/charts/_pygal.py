"""pygal, imported once and tidied: pygal appends a legacy `sys.meta_path` finder for its map
plugins (it has no `find_spec`), so every later import that reaches it raises ImportWarning
(an error under the test suite's warnings-as-errors). We draw no maps: it is taken out again."""

from __future__ import annotations

import sys

import pygal  # type: ignore[import-untyped]
from pygal.style import Style  # type: ignore[import-untyped]

sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

__all__ = ["Style", "pygal"]
