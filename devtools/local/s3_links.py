"""The local runtime's S3 links: the API signs export links for `<base>/_local/s3/<bucket>/<key>`
(env EXPORT_LINK_ENDPOINT) and this route answers them from the emulated bucket, as S3 would a
presigned GET: Signature Version 4 recomputed with the emulation's credentials (a link changed
in any way is 403), expired after `X-Amz-Expires` seconds from `X-Amz-Date` by the wall clock
(S3's clock, like the signer's: not the local test clock), the object's own type and name."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

PREFIX = "/_local/s3/"
Answer = tuple[int, dict[str, str], bytes]


def _refused(status: int, message: str) -> Answer:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode()


def answer(session: Any, base_url: str, target: str, now: datetime | None = None) -> Answer:
    """The object a signed link names, or S3's refusal."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature", "")
    try:
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        expires = int(query["X-Amz-Expires"])
        region = query["X-Amz-Credential"].split("/")[2]
    except (KeyError, ValueError, IndexError):
        return _refused(403, "AccessDenied: not a presigned link")
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or query.get("X-Amz-SignedHeaders") != "host":
        return _refused(403, "AccessDenied: not a presigned link")
    if (now or datetime.now(timezone.utc)) > signed_at + timedelta(seconds=expires):
        return _refused(403, "AccessDenied: Request has expired")
    # The signature the link must carry: the request as signed (without the signature), signed again.
    credentials = session.get_credentials().get_frozen_credentials()
    auth = S3SigV4QueryAuth(credentials, "s3", region, expires=expires)
    unsigned = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("X-Amz-")]
    request = AWSRequest(method="GET", url=base_url + parts.path, params=dict(unsigned))
    request.headers["host"] = urlsplit(base_url).netloc
    request.context["timestamp"] = query["X-Amz-Date"]
    auth._modify_request_before_signing(request)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        return _refused(403, "SignatureDoesNotMatch")
    bucket, _, key = unquote(parts.path[len(PREFIX) :]).partition("/")
    try:
        found = session.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError:
        return _refused(404, "NoSuchKey")
    headers = {"Content-Type": found.get("ContentType", "application/octet-stream")}
    if found.get("ContentDisposition"):
        headers["Content-Disposition"] = found["ContentDisposition"]
    return 200, headers, found["Body"].read()
