"""Create the database cache table (settings.CACHES) as part of `migrate`.

django-q2 keeps cluster status in the cache, and `qinfo`, `qmonitor` and the run page read it
from other processes, so the project uses Django's DatabaseCache. Creating its table here means
every database that is migrated (the demo's SQLite file, PostgreSQL, the test databases) has
it, with no extra step to remember. `createcachetable` skips tables that exist, so running it
again by hand is harmless; it is needed only if the table is renamed in settings.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("syncapp", "0002_schedule_skipped_runs_and_resume"),
    ]

    # Reversing leaves the table: it holds only disposable cache entries.
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
