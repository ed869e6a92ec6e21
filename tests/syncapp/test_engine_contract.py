"""The Django layer stores exactly what the engine reports: no counter or kind dropped."""

from __future__ import annotations

from dataclasses import fields

import syncengine
from syncapp import models


def test_every_engine_counter_has_a_run_column() -> None:
    assert set(models.STAT_FIELDS) == {f.name for f in fields(syncengine.MirroringStats)}
    run_columns = {f.name for f in models.SyncRun._meta.get_fields()}
    assert set(models.STAT_FIELDS) <= run_columns


def test_diff_kinds_and_actions_match_the_engine() -> None:
    assert set(models.DiffKind.values) == {str(k) for k in syncengine.DiffKind}
    assert set(models.DiffAction.values) == {str(a) for a in syncengine.DiffAction}
