"""Amazon Cognito: the dashboard's user pool (admin API: create and delete users), its password
sign-in (InitiateAuth, the local form), and the verification of its ID tokens against the pool's
published keys (JWKS) with joserfc: signature (RS256 only), issuer, audience, `token_use`, expiry.

The keys are fetched once and cached; a token signed with a key id not in the cache fetches them
again, at most once per `REFRESH_AFTER_UNKNOWN_KID` (keys rotate rarely; a forged key id must not
make every request a fetch)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..domain.dashboard_users import PoolUser
from ..domain.errors import InvalidState, ValidationFailed
from ..service.ports import InvalidToken, NewPasswordRequired, SignInRefused

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

KEYS_TTL_SECONDS = 3600.0
REFRESH_AFTER_UNKNOWN_KID = 300.0
LEEWAY_SECONDS = 30  # clock skew between the pool and this function
MAX_TOKEN_CHARS = 8000


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def fetch_json(url: str) -> dict[str, Any]:
    """GET a JSON document (the pool's keys), with a short timeout."""
    import requests  # imported when the keys are first fetched

    response = requests.get(url, timeout=3)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


class CognitoTokenVerifier:
    def __init__(
        self,
        region: str,
        pool_id: str,
        client_id: Callable[[], str],
        wall_clock: Callable[[], float] = time.time,
        fetch: Callable[[str], dict[str, Any]] = fetch_json,
    ) -> None:
        self.issuer = issuer(region, pool_id)
        self.client_id, self.wall_clock, self.fetch = client_id, wall_clock, fetch
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # counted: tests prove the keys are cached

    def _key_set(self, kid: object) -> KeySet:
        from joserfc.jwk import KeySet

        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > KEYS_TTL_SECONDS
            unknown = self._keys is not None and not any(key.kid == kid for key in self._keys.keys)
            if self._keys is None or stale or (unknown and now - self._fetched_at > REFRESH_AFTER_UNKNOWN_KID):
                try:
                    self._keys = KeySet.import_key_set(self.fetch(f"{self.issuer}/.well-known/jwks.json"))  # type: ignore[arg-type]
                except Exception as error:  # the pool's keys unreachable: no one is signed in
                    if self._keys is None:
                        raise InvalidToken("the pool's keys could not be read") from error
                self._fetched_at = now
                self.fetches += 1
            assert self._keys is not None
            return self._keys

    def verify(self, token: str) -> dict[str, object]:
        # joserfc and cryptography (~130 ms) are imported by the first token checked, not at cold start.
        from joserfc import jws, jwt
        from joserfc.errors import JoseError
        from joserfc.jwt import JWTClaimsRegistry

        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise InvalidToken("not a signed token")
        try:
            kid = jws.extract_compact(token.encode()).protected.get("kid")  # unverified: only to pick the key
            keys = self._key_set(kid)
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
            JWTClaimsRegistry(
                now=lambda: int(self.wall_clock()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id()},
                token_use={"essential": True, "value": "id"},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise InvalidToken(f"{type(error).__name__}") from error
        return dict(decoded.claims)


class CognitoPasswordSignIn:
    """USER_PASSWORD_AUTH at the pool's app client (offered by the local runtime only); the
    client's id read where the verifier and managed login read it (`client_id()`)."""

    def __init__(self, client: Any, client_id: Callable[[], str]) -> None:
        self.client, self.client_id = client, client_id

    def sign_in(self, email: str, password: str) -> str:
        try:
            answer = self.client.initiate_auth(
                ClientId=self.client_id(),
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in (
                "NotAuthorizedException",
                "UserNotFoundException",
                "UserNotConfirmedException",
                "InvalidParameterException",
            ):
                raise SignInRefused(code) from error
            raise
        return self._token(answer)

    def choose_password(self, email: str, session: str, new_password: str) -> str:
        try:
            answer = self.client.respond_to_auth_challenge(
                ClientId=self.client_id(),
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=session,
                ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": new_password},
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("InvalidPasswordException", "NotAuthorizedException", "CodeMismatchException", "InvalidParameterException",
                        "ExpiredCodeException", "UserNotFoundException"):  # fmt: skip
                raise SignInRefused(code) from error
            raise
        return self._token(answer)

    @staticmethod
    def _token(answer: dict[str, Any]) -> str:
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            raise NewPasswordRequired(str(answer.get("Session", "")))
        if "AuthenticationResult" not in answer:  # another challenge (MFA): managed login's work
            raise SignInRefused(str(answer.get("ChallengeName", "challenge")))
        token: str = answer["AuthenticationResult"]["IdToken"]
        return token


class CognitoUserPool:
    def __init__(self, client: Any, pool_id: str) -> None:
        self.client, self.pool_id = client, pool_id

    def create_user(self, email: str, merchant_id: str, role: str, password: str | None = None) -> str:
        request: dict[str, Any] = {
            "UserPoolId": self.pool_id,
            "Username": email,
            "UserAttributes": [
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},  # the owner vouches; the invitation goes there
                {"Name": "custom:merchant_id", "Value": merchant_id},
                {"Name": "custom:role", "Value": role},
            ],
            "DesiredDeliveryMediums": ["EMAIL"],
        }
        if password is not None:
            request["MessageAction"] = "SUPPRESS"
        try:
            created = self.client.admin_create_user(**request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "UsernameExistsException":
                raise InvalidState("A user with this e-mail address already exists.") from error
            if code == "InvalidParameterException":  # an address the pool refuses (its length, its form)
                raise ValidationFailed("email: not an address the user pool accepts", "email") from error
            raise
        attributes = {a["Name"]: a["Value"] for a in created["User"].get("Attributes", [])}
        if password is not None:
            self.client.admin_set_user_password(UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True)
        user_id: str = attributes.get("sub") or created["User"]["Username"]
        return user_id

    def sign_out(self, user_id: str) -> None:
        """The user the token's `sub` names, looked up (AdminGetUser), signed out by the address
        the pool holds for them: never a token's e-mail claim (an address the user no longer has may
        name another user by now). AWS accepts the sub and the address alike; the emulated pool
        (moto) ends refresh tokens only by the name they were signed in with, the address."""
        try:
            found = self.client.admin_get_user(UserPoolId=self.pool_id, Username=user_id)
            attributes = {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])}
            if attributes.get("sub", user_id) != user_id:
                return  # not that user's id (an address passed for an id): nothing of theirs to end
            username = attributes.get("email") or found["Username"]
            self.client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=username)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("UserNotFoundException", "InvalidParameterException"):
                raise

    def delete_user(self, user_id: str) -> None:
        for action in (self.client.admin_user_global_sign_out, self.client.admin_delete_user):
            try:
                action(UserPoolId=self.pool_id, Username=user_id)
            except ClientError as error:
                if error.response["Error"]["Code"] != "UserNotFoundException":
                    raise

    def user(self, username: str) -> PoolUser | None:
        """The pool's user by e-mail address or `sub` (AdminGetUser), with their merchant; None
        when there is none or they name no merchant."""
        try:
            found = self.client.admin_get_user(UserPoolId=self.pool_id, Username=username)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("UserNotFoundException", "InvalidParameterException"):
                return None  # none, or not a name the pool could hold (an id from a URL)
            raise
        attributes = {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])}
        merchant_id = attributes.get("custom:merchant_id")
        if not merchant_id:
            return None
        created = found.get("UserCreateDate")
        return PoolUser(
            user_id=attributes.get("sub") or found["Username"],
            email=attributes.get("email", ""),
            merchant_id=merchant_id,
            created_at=created if isinstance(created, datetime) else None,
        )

    def set_role(self, user_id: str, role: str) -> None:
        """The role the user's next token names (the members list is what sessions go by). A user
        the pool no longer has (an operator's delete) has no token to name it: nothing to do, as
        `delete_user`; the directory's role is the one that counts."""
        try:
            self.client.admin_update_user_attributes(
                UserPoolId=self.pool_id, Username=user_id, UserAttributes=[{"Name": "custom:role", "Value": role}]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "UserNotFoundException":
                raise


def post_form(url: str, fields: dict[str, str]) -> dict[str, Any]:
    """POST a form, answer JSON (the pool's token endpoint), with a short timeout."""
    import requests

    response = requests.post(url, data=fields, timeout=5)
    if response.status_code >= 500:
        response.raise_for_status()
    found: dict[str, Any] = response.json()
    found.setdefault("_status", response.status_code)
    return found


class CognitoCodeExchange:
    """Managed login's code for tokens at `<domain>/oauth2/token` (a public client: PKCE, no secret)."""

    def __init__(
        self, domain_url: str, client_id: Callable[[], str], post: Callable[[str, dict[str, str]], dict[str, Any]] = post_form
    ) -> None:
        self.token_url = f"{domain_url.rstrip('/')}/oauth2/token"
        self.client_id, self.post = client_id, post

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        answer = self.post(
            self.token_url,
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id(),
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
            },
        )
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise SignInRefused(str(answer.get("error", "no id_token")))
        return token
