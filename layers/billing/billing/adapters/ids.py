"""The production id generator."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


class RandomIds:
    """`pln_` + 24 random base62 characters (~143 bits): unguessable and collision-free."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))

    def secret(self) -> str:
        return secrets.token_urlsafe(32)
