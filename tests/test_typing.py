"""The types a user's editor shows: ``tests/typecheck/usage.py`` under mypy and pyright, strict.

mypy runs in-process (it is a dev dependency). pyright runs when a ``pyright`` command is on
PATH (``pip install pyright`` fetches its Node.js package on first use); without one the test is
skipped, unless ``TRANSCRIBE_REQUIRE_PYRIGHT=1`` (as CI sets it) makes that a failure. Then the
usage file runs against a FakeServer, so every call it type-checks is one that works.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from transcribe_sdk.testing import FakeServer

ROOT = Path(__file__).resolve().parent.parent
USAGE = ROOT / "tests" / "typecheck" / "usage.py"
PYRIGHT_SECONDS = 600  # the first run downloads Node.js and pyright's package


def test_mypy_strict_infers_each_format() -> None:
    api = pytest.importorskip("mypy.api")
    config = str(ROOT / "pyproject.toml")
    out, err, status = api.run(
        ["--strict", "--config-file", config, "--cache-dir", os.devnull, str(USAGE)]
    )
    assert status == 0, out + err


def _pyright() -> str:
    found = shutil.which("pyright")
    required = os.environ.get("TRANSCRIBE_REQUIRE_PYRIGHT") == "1"
    if found is None:
        if required:
            pytest.fail("TRANSCRIBE_REQUIRE_PYRIGHT=1 but no pyright on PATH")
        pytest.skip("pyright is not installed (pip install pyright)")
    try:
        subprocess.run(
            [found, "--version"], check=True, capture_output=True, timeout=PYRIGHT_SECONDS
        )
    except (subprocess.SubprocessError, OSError) as exc:  # no Node.js and no way to fetch it
        if required:
            raise
        pytest.skip(f"pyright cannot run here: {exc}")
    return found


def test_pyright_strict_infers_each_format_and_accepts_the_examples() -> None:
    # [tool.pyright] in pyproject.toml: strict mode on examples/ and tests/typecheck/.
    pyright = _pyright()
    done = subprocess.run(
        [pyright, "--pythonpath", sys.executable, "--outputjson"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PYRIGHT_SECONDS,
        check=False,
    )
    report = json.loads(done.stdout)
    problems = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
    ]
    assert problems == []
    assert done.returncode == 0, done.stdout + done.stderr
    checked = report["summary"]["filesAnalyzed"]
    assert checked >= len(list((ROOT / "examples").glob("*.py"))) + 1


def _usage() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typecheck_usage", USAGE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_calls_run(hello_wav: Path) -> None:
    usage = _usage()
    server = FakeServer()
    with server.client() as client:
        usage.sync_calls(client, str(hello_wav))
        usage.open_calls(client, str(hello_wav), "text", True)

    async def main() -> None:
        async with server.async_client() as client:
            await usage.async_calls(client, str(hello_wav))

    anyio.run(main)
    assert len(server.requests) > 20
