"""Domain errors carrying a machine-readable code and the HTTP-like status to answer."""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken. ``code`` is machine-readable, ``status`` is HTTP-like."""

    status: int = 400

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, {self.message!r})"


class ValidationFailed(DomainError):
    """The input is invalid (400)."""

    status = 400


class Forbidden(DomainError):
    """The caller may not do this (403)."""

    status = 403


class NotFound(DomainError):
    """The thing does not exist (404)."""

    status = 404


class Conflict(DomainError):
    """The request conflicts with the current state (409)."""

    status = 409


class Gone(DomainError):
    """The thing existed but is no longer available (410)."""

    status = 410
