"""The template's resources on moto, provisioned once per test session and put back to the state
they had just after provisioning before every test: every test starts from the same empty stack
as if it were freshly provisioned, at a fraction of the cost (no tables, queues, keys or secrets
created again; no AWS models parsed again).

What a test can leave behind, and how `Emulation.reset` takes it away:
* resources a test created (a queue, a subscription, a secret, a parameter, a key): every moto
  backend's top-level stores are put back as they were (backends first used by a test are reset);
* data in the provisioned resources: items and stream records of every table, messages of every
  queue, notifications of every topic, e-mail sent through SES.
tests/integration/test_emulation.py shows that what a test leaves is gone for the next one."""

from __future__ import annotations

import copy
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from devtools.provision import Provisioned, provision

ACCOUNT, REGION = "123456789012", os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")

_CONTAINERS = (dict, list, set)


def shared_model_loader() -> None:
    """Every botocore session reads AWS's service models from one loader: a `boto3.Session()` made
    by a test or a function does not parse the models' JSON again (they are read-only once loaded)."""
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "_shared", False):
        return
    loader = botocore.loaders.create_loader()

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return loader if search_path_string is None else botocore.loaders.create_loader(search_path_string)

    create_loader._shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = create_loader


def _region_backends() -> Iterator[tuple[Any, Any]]:
    """(account backends, region backend) of every moto service in use."""
    from moto.core.base_backend import BackendDict

    for backend_dict in list(BackendDict._instances):
        for account_backends in list(backend_dict.values()):
            for region_backend in list(account_backends.values()):
                yield account_backends, region_backend


def _snapshot(backend: Any) -> dict[str, Any]:
    return {k: copy.copy(v) if isinstance(v, _CONTAINERS) else v for k, v in vars(backend).items()}


def _restore(backend: Any, snapshot: dict[str, Any]) -> None:
    for name in [n for n in vars(backend) if n not in snapshot]:
        delattr(backend, name)
    for name, saved in snapshot.items():
        current = getattr(backend, name, None)
        if isinstance(saved, _CONTAINERS) and type(current) is type(saved) and current is not saved:
            current.clear()
            current.update(saved) if isinstance(saved, (dict, set)) else current.extend(saved)
        else:
            setattr(backend, name, saved)


class Emulation:
    """moto started once, the template's resources provisioned once, one boto3 session for the
    functions and the tests (the functions' calls are checked against their roles through it)."""

    def __init__(self) -> None:
        from moto import mock_aws

        shared_model_loader()
        self._mock = mock_aws()
        self._mock.start()
        self.session = boto3.Session()
        self.resources: Provisioned = provision(self.session)
        self._baseline = {id(b): (b, _snapshot(b)) for _, b in _region_backends()}

    def stop(self) -> None:
        self._mock.stop()

    def reset(self) -> None:
        """Back to just provisioned."""
        for account_backends, backend in _region_backends():
            if id(backend) not in self._baseline:  # a service first used since provisioning
                account_backends.reset()
        for backend, snapshot in self._baseline.values():
            _restore(backend, snapshot)
        self._empty_resources()

    def _empty_resources(self) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends
        from moto.sns.models import sns_backends
        from moto.sqs.models import sqs_backends

        for table in dynamodb_backends[ACCOUNT][REGION].tables.values():
            table.items = defaultdict(dict)
            if table.stream_shard is not None:
                table.stream_shard.items = []
        for queue in sqs_backends[ACCOUNT][REGION].queues.values():
            with queue._messages_lock:
                queue._messages, queue._pending_messages, queue.deleted_messages = [], set(), set()
            queue.last_purged_at = None
        for topic in sns_backends[ACCOUNT][REGION].topics.values():
            topic.sent_notifications = []
        for bucket in s3_backends[ACCOUNT]["global"].buckets.values():
            bucket.keys.clear()
            bucket.multiparts.clear()
        from moto.cognitoidp.models import cognitoidp_backends

        for pool in cognitoidp_backends[ACCOUNT][REGION].user_pools.values():  # the dashboard's users
            pool.users.clear()
            pool.refresh_tokens.clear()
            pool.access_tokens.clear()
            pool.id_tokens.clear()

    @contextmanager
    def environment(self) -> Iterator[None]:
        """The functions' environment (the template's variables), the shared session as boto3's
        default; both as they were afterwards (a test may change either)."""
        saved_session, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, self.session
        saved = dict(os.environ)
        os.environ.update(self.resources.env())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            boto3.DEFAULT_SESSION = saved_session
