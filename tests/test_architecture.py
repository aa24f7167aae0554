"""The layers of .importlinter hold (docs/architecture.md), and the contracts do bite: the
same check on a copy of the package with one import pointing upward fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the package under `tree` (its .importlinter, no cache)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_every_contract() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("backend/keys.py", "sidecar.http.state", "Layers read top-down"),
        ("queues/intake.py", "sidecar.mode.store", "No import cycles"),
        ("queues/intake.py", "sidecar.mode.store", "Layers read top-down"),
        ("typed/models.py", "sidecar.queues.intake", "Layers read top-down"),
        ("queues/admission.py", "sidecar.harness.ports", "The product never imports the harness"),
    ],
)
def test_an_import_against_the_layers_breaks_a_contract(
    tmp_path: Path, importer: str, imported: str, contract: str
) -> None:
    shutil.copytree(ROOT / "sidecar", tmp_path / "sidecar")
    shutil.copy(ROOT / ".importlinter", tmp_path)
    with (tmp_path / "sidecar" / importer).open("a") as module:
        module.write(f"\nimport {imported}  # noqa\n")

    run = lint_imports(tmp_path)

    assert run.returncode != 0
    assert f"{contract} BROKEN" in run.stdout, run.stdout
