"""The e-mails sent to a merchant's customers, as the merchant reads them (`/v1/notifications`)."""

from __future__ import annotations

from ..domain.errors import found
from ..domain.notifications import Notification
from .ports import Page, PageRequest, Repository


class NotificationLog:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, merchant_id: str, notification_id: str) -> Notification:
        return found(self.repo.get(Notification, merchant_id, notification_id), "notification", notification_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Notification]:
        return self.repo.page(Notification, merchant_id, page, **filters)
