"""How long a token lives: a default for every token, a ceiling for user tokens, and service tokens that
may outlive both (or never expire) when asked for explicitly.

A credential that lives forever unless someone remembers to revoke it is the commonest way a leaked
token stays useful, so the gateway, like the hosted forges, gives every token an expiry unless the
issuer says, in so many words, that it is a service token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ledgergate.application.errors import ValidationError

__all__ = ["SERVICE_LONGEST", "SHORTEST", "TokenLifetimes"]

SHORTEST = timedelta(seconds=60)
#: The longest expiry a service token may be given (it may also have none).
SERVICE_LONGEST = timedelta(days=3650)


@dataclass(frozen=True)
class TokenLifetimes:
    default: timedelta = timedelta(days=90)
    longest: timedelta = timedelta(days=365)  # for tokens that are not service tokens
    bootstrap: timedelta = timedelta(hours=24)  # the first start's platform-admin token, and each rotation

    def lifetime(self, expires_in_s: int | None, service: bool, given: bool = True) -> timedelta | None:
        """The lifetime of a new token (None: it never expires). ``given`` is False when the caller did not
        say (the default applies); ``expires_in_s=None`` given means "never". Raises: ValidationError."""
        if not given:
            return None if service else self.default
        if expires_in_s is None:
            if not service:
                raise ValidationError(
                    'only a service token may never expire: send "service": true with "expires_in_s": null',
                    field="expires_in_s",
                )
            return None
        longest = SERVICE_LONGEST if service else self.longest
        if not SHORTEST.total_seconds() <= expires_in_s <= longest.total_seconds():  # before timedelta can overflow
            kind = "a service token" if service else 'a token (longer needs "service": true)'
            raise ValidationError(
                f"expires_in_s must be between {int(SHORTEST.total_seconds())} and "
                f"{int(longest.total_seconds())} seconds for {kind}",
                field="expires_in_s",
            )
        return timedelta(seconds=expires_in_s)
