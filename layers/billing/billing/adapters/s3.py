"""S3 as the export files' store: files written as they are produced (an explicit multipart
upload: parts of PART_BYTES sent as soon as they fill, so at most one part is in memory), read
through presigned GET links.

A file smaller than one part is one PutObject. Any failure aborts the multipart upload (no
half-written file under the key, no parts left billed). The bucket encrypts at rest with its
default key (template.yaml: ExportBucket); the object says how to download it (its name)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PART_BYTES = 8 * 1024 * 1024  # S3's parts are at least 5 MiB (all but the last)


def client_config() -> Any:
    """The S3 client's settings: links signed with Signature Version 4 (S3 refuses version 2's
    in newer regions; a v4 link may live up to 7 days, ours an hour)."""
    from botocore.config import Config

    return Config(signature_version="s3v4")


class S3ExportFiles:
    def __init__(self, client: Any, bucket: str, link_client: Any = None, part_bytes: int = PART_BYTES) -> None:
        """`link_client`: signs the links instead (the local runtime's, for its own S3 route)."""
        self.client, self.bucket, self.part_bytes = client, bucket, part_bytes
        self.link_client = link_client or client

    def write(self, key: str, chunks: Iterable[bytes], content_type: str, filename: str) -> None:
        headers = {"ContentType": content_type, "ContentDisposition": f'attachment; filename="{filename}"'}
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **headers)["UploadId"]
                    parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:  # small: one request
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), **headers)
                return
            if buffer:
                parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                except Exception:  # the bucket's lifecycle rule removes what is left
                    pass
            raise

    def _part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def link(self, key: str, seconds: int) -> str:
        url: str = self.link_client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )
        return url
