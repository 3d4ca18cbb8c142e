"""Webhook endpoint secrets sealed with a KMS key, bound to their merchant and endpoint by the
encryption context: a sealed secret copied to another endpoint's item does not open. The API
may only seal (kms:Encrypt); only the delivery function may open (kms:Decrypt)."""

from __future__ import annotations

import base64
from typing import Any


class KmsSecretBox:
    def __init__(self, client: Any, key_id: str) -> None:
        self.client, self.key_id = client, key_id

    @staticmethod
    def _context(merchant_id: str, endpoint_id: str) -> dict[str, str]:
        return {"merchant_id": merchant_id, "webhook_endpoint_id": endpoint_id}

    def seal(self, secret: str, merchant_id: str, endpoint_id: str) -> str:
        response = self.client.encrypt(
            KeyId=self.key_id, Plaintext=secret.encode(), EncryptionContext=self._context(merchant_id, endpoint_id)
        )
        return base64.b64encode(response["CiphertextBlob"]).decode()

    def open(self, sealed: str, merchant_id: str, endpoint_id: str) -> str:
        response = self.client.decrypt(
            KeyId=self.key_id,
            CiphertextBlob=base64.b64decode(sealed),
            EncryptionContext=self._context(merchant_id, endpoint_id),
        )
        return bytes(response["Plaintext"]).decode()
