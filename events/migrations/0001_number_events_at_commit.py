"""Number event-log rows at commit (events.storage): a deferred constraint trigger on django-eventstream's table."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION events_number_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_position bigint;
BEGIN
    -- The counter row stays locked until this COMMIT completes: the channel's next committer waits here, so
    -- positions become visible in order and without gaps.
    INSERT INTO django_eventstream_eventcounter (name, value, updated) VALUES (NEW.channel, 1, now())
    ON CONFLICT (name) DO UPDATE SET value = django_eventstream_eventcounter.value + 1, updated = now()
    RETURNING value INTO next_position;
    IF next_position = 1 THEN
        -- The position-0 row the library's replay looks up for a client that has seen nothing yet.
        INSERT INTO django_eventstream_event (channel, type, data, eid, created)
        VALUES (NEW.channel, '', '', 0, clock_timestamp())
        ON CONFLICT (channel, eid) DO NOTHING;
    END IF;
    UPDATE django_eventstream_event SET eid = next_position, created = clock_timestamp() WHERE id = NEW.id;
    RETURN NULL;
END
$$;
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER events_number_at_commit
AFTER INSERT ON django_eventstream_event
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.eid < 0)
EXECUTE FUNCTION events_number_at_commit();
"""

DROP = """
DROP TRIGGER IF EXISTS events_number_at_commit ON django_eventstream_event;
DROP FUNCTION IF EXISTS events_number_at_commit();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(TRIGGER)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_eventstream", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
