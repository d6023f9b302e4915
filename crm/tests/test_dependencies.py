"""Dependencies: every third-party import is declared in requirements.txt, and the lock files pin what the requirement
files name, with hashes (`make lock` rewrites them)."""

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("crm", "pipelines", "tasks", "deals", "events", "jobs")
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    """name → version of the `name==version` lines of a requirements or lock file (not following `-r`)."""
    pins = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _runtime_modules() -> set[str]:
    """The top-level modules the project's own (non-test) code imports."""
    files = [ROOT / "manage.py"]
    for app in APPS:
        files += [f for f in (ROOT / app).rglob("*.py") if not {"tests", "migrations"} & set(f.parts)]
    modules = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.partition(".")[0])
    return modules - set(sys.stdlib_module_names) - set(APPS)


def test_every_third_party_import_of_the_project_is_declared_in_requirements_txt():
    declared = set(_pins(ROOT / "requirements.txt"))
    distributions = metadata.packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in _runtime_modules()
        if not {_canonical(d) for d in distributions.get(module, [])} & declared
    }
    assert not undeclared, f"imported but not in requirements.txt (module: its distributions): {undeclared}"


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_lock_pins_what_the_requirements_name(requirements, lock):
    wanted = _pins(ROOT / requirements)
    if requirements == "requirements-dev.txt":
        wanted |= _pins(ROOT / "requirements.txt")
    locked = _pins(ROOT / lock)
    stale = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not stale, f"{lock} is stale, run `make lock` (name: (wanted, locked)): {stale}"


def test_the_dev_lock_runs_the_runtime_lock_versions():
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    differing = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert not differing, f"run `make lock` (name: (runtime, dev)): {differing}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_carries_its_hashes(lock):
    hashes: dict[str, int] = {}
    package = None
    for line in (ROOT / lock).read_text().splitlines():
        if _PIN.match(line):
            package = line.split()[0]
            hashes[package] = 0
        if package is not None and "--hash=sha256:" in line:
            hashes[package] += 1
    assert len(hashes) > 20
    assert not [name for name, count in hashes.items() if count == 0], f"{lock}: packages without a hash"


def test_the_installed_packages_are_the_locked_ones():
    locked = _pins(ROOT / "requirements-dev.lock")
    installed = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in locked.items() if installed.get(name) != version}
    assert not wrong, (
        f"the venv differs from requirements-dev.lock, run `make install` (name: (locked, installed)): {wrong}"
    )
