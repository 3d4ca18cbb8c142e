"""Test data more than one test module uses, unit and integration alike."""

from __future__ import annotations

# A customer's consent to a mandate, as a merchant's checkout records it.
CONSENT = {"accepted_at": "2026-11-25T08:59:00Z", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"}
# A plan's terms.
GOLD = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"}
