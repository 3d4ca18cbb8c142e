"""A Docker-free stand-in for API Gateway's REST API in front of the functions.

It does what the deployed stage does, read from template.yaml: the TOKEN authorizer with its
identity validation expression and cache TTL, the policy check, the REST proxy event, the
gateway responses (401/404/413 bodies) when the request never reaches the function, and the
binary media types: a request body whose Content-Type is one of them reaches the function
base64-encoded; a base64 answer (isBase64Encoded) goes out as bytes only when the request's
*first* Accept type is one of them, else as the base64 text itself (as API Gateway does).
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .template import load_template

ACCOUNT = "123456789012"
REGION = "eu-west-1"
API_ID = "localapi01"


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str
    raw: bytes | None = None  # a binary answer's bytes (then `body` is empty)
    cookies: list[str] = field(default_factory=list)  # each Set-Cookie, sent as its own header (never joined)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiGateway:
    def __init__(
        self,
        authorizer: Callable[[dict[str, Any]], dict[str, Any]],
        routes: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], bool]],
        stage: str = "live",
        host: str = f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """routes: (path prefix, proxy handler, needs authorizer); clock: seconds, for the authorizer
        cache's time to live (`make local` passes its local clock, as the contract says)."""
        template = load_template()
        api = template["Resources"]["Api"]["Properties"]
        self.binary_media_types = [t.replace("~1", "/") for t in api.get("BinaryMediaTypes", [])]
        identity = api["Auth"]["Authorizers"]["MerchantKeyAuthorizer"]["Identity"]
        self._validation = re.compile(identity["ValidationExpression"])
        ttl = identity.get("ReauthorizeEvery", 300)
        self._ttl = float(template["Parameters"][ttl["Ref"]]["Default"]) if isinstance(ttl, dict) else float(ttl)
        self._gateway_responses = api["GatewayResponses"]
        self._authorizer, self._routes, self.stage, self.host, self._clock = authorizer, routes, stage, host, clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.authorizer_calls = 0

    # -------------------------------------------------------------- gateway
    def _gateway_response(self, kind: str, default_status: int) -> HttpResponse:
        spec = self._gateway_responses.get(kind, {})
        body = spec.get("ResponseTemplates", {}).get("application/json", '{"message": "error"}')
        return HttpResponse(int(spec.get("StatusCode", default_status)), {"Content-Type": "application/json"}, body)

    def _authorize(self, token: str | None, method_arn: str) -> dict[str, Any] | HttpResponse:
        if not token or not self._validation.match(token):
            return self._gateway_response("UNAUTHORIZED", 401)
        now = self._clock()
        cached = self._cache.get(token)
        if cached and cached[0] > now:
            policy = cached[1]
        else:
            self.authorizer_calls += 1
            try:
                policy = self._authorizer({"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn})
            except Exception as error:  # noqa: BLE001 - API Gateway maps any failure the same way
                if str(error) == "Unauthorized":
                    return self._gateway_response("UNAUTHORIZED", 401)
                return self._gateway_response("DEFAULT_5XX", 500)
            if self._ttl > 0:
                self._cache[token] = (now + self._ttl, policy)
        if not self._allows(policy, method_arn):
            return self._gateway_response("ACCESS_DENIED", 403)
        return policy

    @staticmethod
    def _allows(policy: dict[str, Any], method_arn: str) -> bool:
        allowed = False
        for statement in policy.get("policyDocument", {}).get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in [resources] if isinstance(resources, str) else resources:
                if fnmatch.fnmatchcase(method_arn, resource):
                    if statement.get("Effect") == "Deny":
                        return False
                    allowed = True
        return allowed

    # -------------------------------------------------------------- request
    def request(
        self,
        method: str,
        path_and_query: str,
        headers: dict[str, str] | None = None,
        body: str | bytes | None = None,
        source_ip: str = "127.0.0.1",
    ) -> HttpResponse:
        headers = dict(headers or {})
        path, _, query = path_and_query.partition("?")
        route = next(((prefix, handler, auth) for prefix, handler, auth in self._routes if path.startswith(prefix)), None)
        if route is None:
            return self._gateway_response("MISSING_AUTHENTICATION_TOKEN", 403)
        prefix, handler, needs_auth = route
        raw = body.encode() if isinstance(body, str) else body
        if raw is not None and len(raw) > 10 * 1024 * 1024:
            return self._gateway_response("REQUEST_TOO_LARGE", 413)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        binary_in = raw is not None and self._binary(content_type)
        if raw is None:
            body = None
        elif binary_in:
            body = base64.b64encode(raw).decode()
        else:
            body = raw.decode("utf-8", errors="replace")
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{self.stage}/{method}{path}"
        authorizer_context: dict[str, Any] = {}
        if needs_auth:
            token = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            outcome = self._authorize(token, method_arn)
            if isinstance(outcome, HttpResponse):
                return outcome
            authorizer_context = {**outcome.get("context", {}), "principalId": outcome.get("principalId")}
        event = self.proxy_event(method, path, prefix, query, headers, body, authorizer_context, source_ip)
        event["isBase64Encoded"] = binary_in
        result = handler(event)
        response_headers = {**(result.get("headers") or {})}
        cookies: list[str] = []
        for key, values in (result.get("multiValueHeaders") or {}).items():
            if key.lower() == "set-cookie":
                cookies.extend(values)
            else:
                response_headers[key] = ", ".join(values)
        body = result.get("body") or ""
        accept = next((v for k, v in headers.items() if k.lower() == "accept"), "*/*")
        if result.get("isBase64Encoded") and self._binary(accept.split(",")[0]):  # bytes on the wire
            return HttpResponse(int(result["statusCode"]), response_headers, "", base64.b64decode(body), cookies)
        return HttpResponse(int(result["statusCode"]), response_headers, body, cookies=cookies)

    def _binary(self, media_type: str) -> bool:
        """Whether API Gateway treats this media type as binary (the API's BinaryMediaTypes, wildcards included)."""
        kind = media_type.split(";")[0].strip().lower()
        return bool(kind) and any(fnmatch.fnmatch(kind, pattern) for pattern in self.binary_media_types)

    def proxy_event(
        self,
        method: str,
        path: str,
        prefix: str,
        query: str,
        headers: dict[str, str],
        body: str | None,
        authorizer_context: dict[str, Any],
        source_ip: str,
    ) -> dict[str, Any]:
        multi_query = parse_qs(query, keep_blank_values=True) if query else None
        request_id = str(uuid.uuid4())
        return copy.deepcopy(
            {
                "resource": f"{prefix.rstrip('/')}/{{proxy+}}",
                "path": path,
                "httpMethod": method,
                "headers": headers or None,
                "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
                "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
                "multiValueQueryStringParameters": multi_query,
                "pathParameters": {"proxy": path[len(prefix) :].lstrip("/")},
                "stageVariables": None,
                "requestContext": {
                    "resourcePath": f"{prefix.rstrip('/')}/{{proxy+}}",
                    "httpMethod": method,
                    "path": f"/{self.stage}{path}",
                    "accountId": ACCOUNT,
                    "stage": self.stage,
                    "requestId": request_id,
                    "extendedRequestId": request_id,
                    "requestTimeEpoch": int(time.time() * 1000),
                    "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
                    "domainName": self.host,
                    "apiId": API_ID,
                    "authorizer": authorizer_context or None,
                },
                "body": body,
                "isBase64Encoded": False,
            }
        )
