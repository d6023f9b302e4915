"""The import rules between the apps (ARCHITECTURE.md, "Layers"): each app imports only the layers below it.

crm is the core (tenancy, errors, auth, the admin base) and names no domain app; events is the sink every domain
app writes to and knows none of them (callers pass plain ids, renderers are dotted paths in settings); the
brokerage (deals) knows nothing of the sales funnel, which may use it (a lead becomes a deal); tasks hang off leads.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("crm", "events", "deals", "pipelines", "tasks", "jobs")
ALLOWED = {
    "crm": set(),
    "events": {"crm"},
    "deals": {"crm", "events"},
    "pipelines": {"crm", "events", "deals"},
    "tasks": {"crm", "events", "pipelines"},
    "jobs": {"crm"},
}
# The process entry points assemble the whole project.
ENTRY_POINTS = {"crm/asgi.py", "crm/wsgi.py", "crm/urls.py", "crm/settings.py"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def test_each_app_imports_only_the_layers_below_it():
    broken = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if {"tests", "migrations"} & set(path.parts) or relative in ENTRY_POINTS:
                continue
            for imported in sorted((_imports(path) & set(APPS)) - {app} - ALLOWED[app]):
                broken.append(f"{relative} imports {imported}")
    assert not broken, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(broken)


def test_the_rules_form_layers():
    """No two apps may import each other, so the layers stay a stack."""
    assert not [(a, b) for a in ALLOWED for b in ALLOWED[a] if a in ALLOWED[b]]
