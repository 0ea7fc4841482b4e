"""`ast.parse` for the tests that read the project's own source.

CPython 3.11 keeps the AST constructor's recursion counter in state shared by every thread
of the interpreter (python/cpython#106905). When another thread builds an AST at the same
moment (a server or a library left running by an earlier test in the same worker),
`ast.parse` can raise `SystemError: AST constructor recursion depth mismatch` for valid
source. The counter is reset at the start of every parse, so parsing again is the fix;
a real syntax error is a `SyntaxError` and is never retried.
"""

from __future__ import annotations

import ast

_ATTEMPTS = 5


def parse(source: str) -> ast.Module:
    for attempt in range(_ATTEMPTS):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
