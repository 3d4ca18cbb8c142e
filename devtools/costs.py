"""Estimated AWS cost from counted usage (botocore events) and public list prices.
Shared by `make bench` and `make demo`; assumptions are explained in docs/performance.md."""

from __future__ import annotations

from typing import Any

# USD, us-east-1 list prices (checked 2026-11). Lambda on arm64.
PRICE = {
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "sns_publish": 0.50 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,
    "logs_gb": 0.50,
    "ses_email": 0.10 / 1000,  # outbound e-mail to customers (SES's own price, not AWS infrastructure)
}
CHARGER_MEMORY_GB = 0.5
LOG_BYTES_PER_CHARGE = 2048  # structured log + EMF metrics


def cost_per_million(
    stats: dict[str, Any], charges: int, events: int, invocations: int, charger_batches: int, seconds_per_attempt: float
) -> dict[str, float]:
    """`stats` is an AwsStats snapshot covering `charges` charge attempts."""
    scale = 1e6 / max(1, charges)
    calls = stats["aws_calls"]
    sqs_ours = sum(v for k, v in calls.items() if k.startswith("sqs."))
    sqs_poller = 2 * charger_batches  # Lambda's poller: ReceiveMessage + DeleteMessageBatch per batch
    out = {
        "DynamoDB": (stats["dynamodb_write_units"] * PRICE["dynamodb_wru"] + stats["dynamodb_read_units"] * PRICE["dynamodb_rru"])
        * scale,
        "SQS": (sqs_ours + sqs_poller) * PRICE["sqs_request"] * scale,
        "SNS": events * PRICE["sns_publish"] * scale,
        "Lambda": (
            invocations * PRICE["lambda_request"] + charges * seconds_per_attempt * CHARGER_MEMORY_GB * PRICE["lambda_gb_second"]
        )
        * scale,
        "CloudWatch Logs": LOG_BYTES_PER_CHARGE * 1e6 / 1e9 * PRICE["logs_gb"],
    }
    emails = calls.get("sesv2.SendEmail", 0)
    if emails:  # customers' e-mails: by far the largest item when sent (one receipt per charge: $100 per million)
        out["SES e-mail"] = emails * PRICE["ses_email"] * scale
    out["total"] = sum(out.values())
    return out
