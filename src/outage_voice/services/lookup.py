"""Who is calling and what do we know about their power: the IVR's first question."""

from __future__ import annotations

from outage_voice.domain.phones import normalize_phone
from outage_voice.domain.status import LookupKey, StatusLookup
from outage_voice.services.ports import StatusStore

# A landlord's number can cover hundreds of accounts; nobody listens to more than a few.
MAX_ACCOUNTS_PER_LOOKUP = 20


class LookupService:
    def __init__(self, store: StatusStore, *, region: str) -> None:
        self._store = store
        self._region = region

    async def by_phone(self, raw_phone: str) -> StatusLookup:
        """Raises InvalidPhone for something that is not a number (a withheld caller ID, say)."""
        e164 = normalize_phone(raw_phone, self._region)
        return await self._store.lookup(LookupKey.PHONE, e164, limit=MAX_ACCOUNTS_PER_LOOKUP)

    async def by_account(self, account_number: str) -> StatusLookup:
        return await self._store.lookup(
            LookupKey.ACCOUNT, account_number.strip(), limit=MAX_ACCOUNTS_PER_LOOKUP
        )

    async def by_premise(self, premise_id: str) -> StatusLookup:
        return await self._store.lookup(
            LookupKey.PREMISE, premise_id.strip(), limit=MAX_ACCOUNTS_PER_LOOKUP
        )
