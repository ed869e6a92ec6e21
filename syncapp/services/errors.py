"""Errors the service layer raises for the admin, commands and tasks to show to people."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out; the message is meant for the user as is."""


class RunConflict(ServiceError):
    """A mirror of this namespace is already queued or running.

    `active_run_id` is that mirror's run, when known: a skipped scheduled start records it.
    """

    def __init__(self, message: str, *, active_run_id: int | None = None) -> None:
        super().__init__(message)
        self.active_run_id = active_run_id
