"""Errors raised when a command would break an invariant."""

__all__ = ["DomainError", "EntityDeletedError", "InvalidValueError"]


class DomainError(Exception):
    """A command was refused by the domain."""


class InvalidValueError(DomainError):
    """A value does not satisfy its rules (bad name, invalid JSON Schema, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EntityDeletedError(DomainError):
    """The entity was deleted; only a revert can bring it back."""
