"""Environment at the boundary, validated by pydantic: a missing variable fails at cold start."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str
    idempotency_table_name: str = ""
    link_signing_secret_arn: str = ""
    public_base_url: str = ""
    events_topic_arn: str = ""
    unpublished_events_queue_url: str = ""  # the publisher's DLQ: events SNS refused, for replay
    receipt_queue_url: str = ""  # FIFO: each succeeded charge, to be numbered (one group per merchant)
    # E-mails to customers
    notify_queue_url: str = ""  # the notification queue (deployed as NotifyQueue): e-mails to consider (events, receipts)
    sender_email: str = ""  # the SES identity e-mails come from (template parameter SenderEmail)
    ses_configuration_set: str = ""  # where SES reports bounces and complaints
    # Billing engine
    charge_queue_url: str = ""  # the gateway queue (deployed as ChargeQueue; env CHARGE_QUEUE_URL)
    gateway_ledger_table_name: str = ""
    reconcile_queue_url: str = ""  # one message per merchant and day to reconcile (ReconcileQueue)
    stripe_secret_name: str = ""  # Secrets Manager name/ARN, or an SSM SecureString path starting with "/"
    stripe_publishable_key: str = ""  # for Stripe.js on the customer's page
    stripe_api_base: str = "https://api.stripe.com"
    allow_simulated_gateway: bool = True  # template parameter AllowSimulatedGateway
    # Gateway events (inbound)
    stripe_webhook_secret_arn: str = ""  # Secrets Manager: the webhook signing secret(s), comma separated in a rotation
    gateway_events_queue_url: str = ""  # normalised gateway events, to be applied (GatewayEventsQueue)
    # Webhooks
    webhook_key_arn: str = ""  # the KMS key that seals endpoint secrets
    webhook_queue_url: str = ""  # deliveries' wake-ups
    allow_loopback_webhooks: bool = False  # the local runtime only: http://127.0.0.1 / localhost receivers
    # Exports
    export_queue_url: str = ""  # exports to build (ExportQueue)
    export_bucket_name: str = ""  # where their files go (ExportBucket)
    export_link_endpoint: str = ""  # the local runtime only: links signed for its /_local/s3 route
    # The merchant's dashboard (its Cognito user pool)
    dashboard_user_pool_id: str = ""
    dashboard_client_id: str = ""  # the dashboard's app client: the audience of its ID tokens (the local runtime)
    # On AWS the client id is read from this SSM parameter (the client's callback URL names the
    # API, whose definition names this function: an environment variable would be a cycle).
    dashboard_client_id_parameter: str = ""
    dashboard_login_url: str = ""  # managed login's domain (https://<prefix>.auth.<region>.amazoncognito.com); empty: none
    dashboard_password_sign_in: bool = False  # the local runtime only: an e-mail + password form (USER_PASSWORD_AUTH)
    aws_region: str = ""  # set by Lambda
    aws_default_region: str = "eu-west-1"
    claim_lease_seconds: int = Field(default=900, ge=60, le=43200)
    max_dispatch_per_run: int = Field(default=5000, ge=1, le=1_000_000)

    @property
    def gateways(self) -> frozenset[str]:
        """The gateways this deployment can charge with."""
        return frozenset({"simulated"} if self.allow_simulated_gateway else set()) | (
            {"stripe"} if self.stripe_secret_name else set()
        )

    @property
    def region(self) -> str:
        return self.aws_region or self.aws_default_region

    @classmethod
    def from_env(cls) -> Settings:
        return cls.model_validate({k.lower(): v for k, v in os.environ.items()})
