"""How long a new token lives: the default, the ceiling of user tokens, and explicit service tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledgergate.application.errors import ValidationError
from ledgergate.application.token_lifetimes import SERVICE_LONGEST, TokenLifetimes

POLICY = TokenLifetimes(default=timedelta(days=30), longest=timedelta(days=60))


def test_a_token_that_says_nothing_lives_the_default_and_a_service_token_forever() -> None:
    assert POLICY.lifetime(None, service=False, given=False) == timedelta(days=30)
    assert POLICY.lifetime(None, service=True, given=False) is None
    assert POLICY.lifetime(None, service=True) is None


def test_an_explicit_lifetime_is_kept_within_the_ceiling_of_its_kind() -> None:
    assert POLICY.lifetime(3600, service=False) == timedelta(hours=1)
    assert POLICY.lifetime(60 * 86400, service=False) == timedelta(days=60)
    assert POLICY.lifetime(int(SERVICE_LONGEST.total_seconds()), service=True) == SERVICE_LONGEST


@pytest.mark.parametrize(
    ("seconds", "service"),
    [(None, False), (59, False), (0, True), (-5, True), (60 * 86400 + 1, False), (2**62, True), (2**62, False)],
)
def test_a_lifetime_out_of_bounds_or_forever_without_service_is_refused(seconds: int | None, service: bool) -> None:
    with pytest.raises(ValidationError) as raised:
        POLICY.lifetime(seconds, service=service)
    assert raised.value.extra == {"field": "expires_in_s"}
