"""Errors the service layer raises for the admin, commands and tasks to show to people."""


class ServiceError(Exception):
    """A request that cannot be carried out; the message is meant for the user as is."""


class RunConflict(ServiceError):
    """A mirror of this namespace is already queued or running."""
