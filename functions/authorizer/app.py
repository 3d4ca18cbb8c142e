"""Lambda TOKEN authorizer: `Authorization: Bearer <key>` -> the merchant id, or 401.

API Gateway caches the answer per key (ReauthorizeEvery), so the policy allows every /v1
route of this API and stage, not only the one being called.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
    HttpVerb,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.observability import logger

deps = bootstrap.authorizer(bootstrap.given(globals()))


def bearer_key(header: str | None) -> str | None:
    scheme, _, key = (header or "").partition(" ")
    return key.strip() or None if scheme == "Bearer" else None


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def lambda_handler(event: APIGatewayAuthorizerTokenEvent, context: LambdaContext) -> dict[str, Any]:
    key = bearer_key(event.authorization_token)
    merchant_id = deps.merchants.merchant_for_key(key, deps.clock.now()) if key else None
    if merchant_id is None:
        logger.info("refused API key")  # never log the key itself
        raise Exception("Unauthorized")  # API Gateway answers 401 (GatewayResponses UNAUTHORIZED)
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=merchant_id,
        context={"merchant_id": merchant_id},
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
    )
    policy.allow_route(http_method=HttpVerb.ALL.value, resource="v1/*")
    logger.append_keys(merchant_id=merchant_id)
    logger.info("authorized")
    return policy.asdict()
