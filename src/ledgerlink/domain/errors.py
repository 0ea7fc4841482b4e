"""Domain errors carry a stable machine-readable code; HTTP mapping lives in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller may see. `code` is stable; `detail` is for people."""

    code: str = "domain_error"
    status: int = 400

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class BadRequest(DomainError):
    """The request could not be read at all (e.g. a body that is not JSON)."""

    code = "bad_request"
    status = 400


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class NotFound(DomainError):
    """Also raised for objects that exist but belong to someone else: we never reveal which."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"


class TooManyRequests(DomainError):
    """Throttled: nothing was done. `retry_after` is in whole seconds (the Retry-After header)."""

    code = "too_many_requests"
    status = 429

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)
