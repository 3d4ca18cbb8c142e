"""/v1/account: the merchant's settings (legal details for receipts, support e-mail, customers'
default language, receipt prefix, which e-mails customers get)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from ..requests import AccountUpdate
from ..responses import AccountOut
from ..routing import MerchantRequest, new_router, responses

router = new_router()


@router.get("/v1/account", responses=responses(AccountOut, 200), summary="Retrieve the account's settings")
def get_account() -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.account.get(request.merchant_id))


@router.patch("/v1/account", responses=responses(AccountOut, 200, 422), summary="Change the account's settings")
def update_account(body: AccountUpdate) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.account.update(request.merchant_id, body))
