"""Item 2 and the lint of item 3: the README's TypeScript example compiles, with no
cast, against types that openapi-typescript generates from the app's own OpenAPI
document (`tsc --strict --noEmit`), and the document passes Redocly's recommended
rules. Runs node from tests/typescript (`npm ci` there from its package-lock.json)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from escrowgate.app import create_app
from escrowgate.config import Settings

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "tests" / "typescript"
BUILD = FOLDER / "build"


def readme_block(marker: str) -> str:
    """The fenced block after `<!-- example: marker -->` in the README."""
    text = (ROOT / "README.md").read_text("utf-8")
    found = re.search(rf"<!-- example: {marker} -->\n```\w*\n(.*?)\n```", text, re.S)
    assert found, f"README has no `{marker}` example"
    return found.group(1)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=FOLDER, capture_output=True, text=True, timeout=600)


def _installed_as_locked() -> bool:
    """node_modules holds every package of the lock file at its locked version (an
    optional one, such as macOS's fsevents, may be missing)."""
    installed = FOLDER / "node_modules" / ".package-lock.json"
    if not installed.exists():
        return False
    have = json.loads(installed.read_text())["packages"]
    lock = json.loads((FOLDER / "package-lock.json").read_text())["packages"]
    return all(
        have.get(name, {}).get("version") == entry.get("version")
        for name, entry in lock.items()
        if name and not entry.get("optional")
    )


@pytest.fixture(scope="module")
def node_tools(tmp_path_factory) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed for the TypeScript check (make test runs it)")
    if not _installed_as_locked():
        done = _run(npm, "ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stderr[-3000:]
    BUILD.mkdir(exist_ok=True)
    document = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
    path = BUILD / "openapi.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def test_readme_typescript_example_compiles_against_the_generated_types(node_tools):
    done = _run(
        "npx", "--no-install", "openapi-typescript", str(node_tools), "-o", "build/escrowgate.d.ts"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    types = (BUILD / "escrowgate.d.ts").read_text()
    # The merchant's metadata is a map of values, not Record<string, never>.
    never = [line.strip() for line in types.splitlines() if "Record<string, never>" in line]
    # (openapi-typescript's own empty `webhooks` and `$defs` roots aside)
    assert never == [
        "export type webhooks = Record<string, never>;",
        "export type $defs = Record<string, never>;",
    ]
    assert "metadata?: {\n                [key: string]: unknown;" in types
    assert "createMilestone" in types
    example = readme_block("typescript")
    assert " as " not in example and "<any>" not in example and ": any" not in example
    (BUILD / "example.ts").write_text(example.replace("'./escrowgate'", "'./escrowgate.js'") + "\n")
    done = _run("npx", "--no-install", "tsc", "-p", "tsconfig.json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_wrong_body_does_not_compile(node_tools):
    """The compile check can fail: a misspelt field of the milestone body is an error."""
    done = _run(
        "npx", "--no-install", "openapi-typescript", str(node_tools), "-o", "build/escrowgate.d.ts"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    example = readme_block("typescript").replace("milestoneIndex: 0,", "milestoneIdx: 0,")
    (BUILD / "example.ts").write_text(example.replace("'./escrowgate'", "'./escrowgate.js'") + "\n")
    try:
        done = _run("npx", "--no-install", "tsc", "-p", "tsconfig.json")
    finally:
        (BUILD / "example.ts").unlink()
    assert done.returncode != 0
    assert "milestoneIdx" in done.stdout or "milestoneIndex" in done.stdout, done.stdout[-2000:]


def test_the_document_passes_redocly_recommended_rules(node_tools):
    done = _run(
        "npx",
        "--no-install",
        "redocly",
        "lint",
        "--config",
        "redocly.yaml",
        "--format",
        "stylish",
        "--max-problems",
        "50",
        str(node_tools),
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "warning" not in done.stdout.lower(), done.stdout[-4000:]
