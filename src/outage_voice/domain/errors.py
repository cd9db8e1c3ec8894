"""Errors the domain raises; the web and CLI edges translate them for people."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors that describe bad input or a broken rule, never a bug."""


class InvalidField(DomainError):
    """One named field of an input is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class Busy(DomainError):
    """Something is being changed by someone else right now; the same request later works."""


class TookTooLong(DomainError):
    """A request was stopped at its time limit: asked again it would take as long."""
