"""The Django admin: configuration, starting and watching runs, auditing every changed record.

A thin layer: each view loads what it needs, checks permissions and calls one service
(`syncapp.services`) or selector. Runs and diffs are read-only here for everyone; starting,
cancelling and resuming runs needs the `syncapp.start_sync` permission.
"""

from syncapp.admin import config, diffs, runs  # noqa: F401  (registers the ModelAdmins)
