"""Environment at the boundary, validated by pydantic: a missing variable fails at cold start."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str
    idempotency_table_name: str = ""
    link_signing_secret_arn: str = ""
    public_base_url: str = ""
    events_topic_arn: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        return cls.model_validate({k.lower(): v for k, v in os.environ.items()})
