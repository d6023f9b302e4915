"""What migrations need to run hand-written PostgreSQL (triggers, functions, expression indexes)."""


def on_postgresql(statements):
    """A RunPython function that executes `statements` on PostgreSQL and does nothing on SQLite, which the
    laptop defaults use and which needs none of them (each statement says why in its migration)."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run
