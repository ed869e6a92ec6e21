"""django-q2 tasks: thin interfaces that take primary keys and call one service each.

Both are safe to run more than once. django-q2 presents a task again when its worker died
without acknowledging it (after `Q_CLUSTER["retry"]` seconds), and once more when it raised
(`max_attempts`):

* `execute_sync_run` claims its run with a conditional UPDATE: a second delivery finds it
  finished (or running with a live heartbeat) and does nothing; a delivery after a worker
  died finds it running with a stale heartbeat and resumes it.
* `scheduled_mirror` may create a second run for the same slot only if the first one already
  finished; otherwise it records a skipped start.
"""

from __future__ import annotations

from syncapp.services.runs import sync_run_execute
from syncapp.services.schedules import scheduled_mirror_start


def execute_sync_run(run_id: int) -> dict[str, object]:
    """Execute (or resume) run `run_id`. The returned summary is what django-q2 stores."""
    run = sync_run_execute(run_id=run_id, reclaim_stale=True)
    return {"run_id": run.pk, "status": run.status, "error": run.error or None}


def scheduled_mirror(namespace_id: int) -> dict[str, object]:
    """The function a namespace's schedule calls: start a mirror or record a skipped one."""
    run = scheduled_mirror_start(namespace_id=namespace_id)
    if run is None:
        status = "not started (namespace gone or schedule off)"
        return {"namespace_id": namespace_id, "run_id": None, "status": status}
    return {"namespace_id": namespace_id, "run_id": run.pk, "status": run.status}
