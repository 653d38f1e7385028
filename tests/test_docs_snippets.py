"""Every ```python and ```bash block of the docs (docs/*.md) and README.md runs as written.

Each page's blocks run in one subprocess (the local model is loaded once per page), each block
in a fresh namespace, with ``TRANSCRIBE_BASE_URL=local`` and no key: ``Client()`` is the local
engine. The working directory is a scratch folder holding copies of ``examples/audio`` and
``tests/fixtures``, so the paths the snippets name resolve as from the repository's root, and
what they write stays out of the repository. Standard input is ``examples/audio/hello.wav``
(for the snippets that read audio from it). A block defining zero-argument ``test_*``
functions has them called, as pytest would.

The ```bash blocks of a page run after its python blocks, in the same folder, each in
``bash -e -o pipefail`` with the package's commands on ``PATH`` and the same environment: a
command that would call the router (``transcribe talk.mp3``) runs against the local engine
instead, the offline stand-in for the network. The folder also holds the inputs the commands
name (``talk.mp3``, ``recordings/``, ``calls/*.wav``, ...), copies of the sample audio.

A block that needs a server this machine does not have is preceded by
``<!-- snippet: stand-in (NAME) -->`` and runs against a local stand-in on 127.0.0.1, started for
the page's run and stopped after it (``tests/_standins.py`` describes them): ``router`` (the
router, with ``TRANSCRIBE_BASE_URL`` and ``TRANSCRIBE_API_KEY`` set for that block only),
``serve`` (a running ``transcribe-sdk serve``), ``ray`` and ``cluster`` (a Ray cluster the
block starts, or one already running), ``proxy`` (a company's proxy and CA in front of the
router) and ``web`` (a host to download audio from).
Such a block is run as a user copies it, except
that the real address it names (``https://api.cortecs.ai/v1``, ``http://127.0.0.1:8000``) is
replaced in the text run by the stand-in's (a free port, so a busy port 8000 does not matter;
``https://example.com`` becomes a plain ``http://127.0.0.1`` address).

A block that cannot run here at all (it installs packages, starts a server that runs until
stopped, needs a program the project does not depend on, or a host outside this machine) is
preceded by ``<!-- snippet: skip (why) -->`` and is compiled (python) or syntax-checked (bash)
only. :func:`test_snippet_census` counts both kinds. Nothing a block writes lands in the
repository: the clone's ``git status`` is the same before and after.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import _standins
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
TIMEOUT = 300  # seconds for one page, every block included
AT_ONCE = 2  # pages run at once (the machine may have 2 cores)

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>python|bash)[ \t]*\n(?P<body>.*?)^(?P=indent)```",
    re.S | re.M,
)
_MARKER = re.compile(r"<!--\s*snippet:\s*(?P<kind>skip|stand-in)\s*\((?P<why>[^)]+)\)\s*-->\s*$")


@dataclass
class Snippet:
    page: str
    line: int
    code: str
    skip: str | None
    lang: str = "python"
    stand_in: str | None = None
    """The stand-in the block runs against (``router``, ``serve``), or ``None``."""


def snippets_of(path: Path) -> list[Snippet]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        marker = _MARKER.search(before)
        kind = marker.group("kind") if marker else None
        found.append(
            Snippet(
                page=path.name,
                line=text.count("\n", 0, match.start()) + 1,
                code=textwrap.dedent(match.group("body")),
                skip=marker.group("why").strip() if marker and kind == "skip" else None,
                lang=match.group("lang"),
                stand_in=marker.group("why").strip() if marker and kind == "stand-in" else None,
            )
        )
    return found


_RUNNER = r"""
import inspect, json, os, sys, traceback

blocks = json.load(open(sys.argv[1], encoding="utf-8"))
results = []
page_env = dict(os.environ)
sessions = {}  # a stand-in's blocks that continue one another share one namespace
for block in blocks:
    sys.stdin.buffer.seek(0)  # each block that reads standard input gets the whole file
    os.environ.clear()
    os.environ.update(page_env, **block["env"])  # a stand-in's environment, for this block only
    fresh = {"__name__": "__main__"}
    namespace = sessions.setdefault(block["session"], fresh) if block["session"] else fresh
    try:
        exec(compile(block["code"], block["where"], "exec"), namespace)
        for name, value in list(namespace.items()):
            if name.startswith("test_") and inspect.isfunction(value):
                if not inspect.signature(value).parameters:
                    value()
        results.append(None)
    except BaseException:
        results.append(traceback.format_exc(limit=-4))
json.dump(results, open(sys.argv[2], "w", encoding="utf-8"))
"""


# The inputs the docs' commands name, as copies of the sample audio.
_INPUTS = {
    "talk.mp3": "hello.mp3",
    "meeting.mp3": "hello.mp3",
    "long-meeting.mp3": "hello.mp3",
    "recordings/talk.wav": "hello.wav",
    "calls/a.wav": "hello.wav",
    "interviews/one.wav": "hello.wav",
    # diarization.md: the recordings, and a 2-10 s sample of each known speaker
    "meeting.wav": "hello.wav",
    "call.wav": "hello.wav",
    "samples/agent.wav": "hello.wav",
    "samples/customer.mp3": "hello.mp3",
    # ray.md and README.md: the archive Ray reads
    "audio/hello.wav": "hello.wav",
    "audio/hello.mp3": "hello.mp3",
    "archive/talk.wav": "hello.wav",
    "archive/call.mp3": "hello.mp3",
}


def _workspace(folder: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "audio", folder / "examples" / "audio")
    shutil.copytree(ROOT / "tests" / "fixtures", folder / "tests" / "fixtures")
    for name, source in _INPUTS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "tests" / "fixtures" / source, folder / name)
    return folder


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env.update(TRANSCRIBE_BASE_URL="local", HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8")
    # the package's commands (transcribe, transcribe-sdk) of the interpreter running the tests
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@dataclass
class StandIns:
    """The stand-ins running for a page: the environment and the addresses of each."""

    env: dict[str, dict[str, str]]
    addresses: dict[str, dict[str, str]]

    def code(self, snippet: Snippet) -> str:
        return _standins.localise(snippet.code, self.addresses.get(snippet.stand_in or "", {}))

    def env_of(self, snippet: Snippet) -> dict[str, str]:
        return self.env.get(snippet.stand_in or "", {})


def _start_stand_ins(kinds: set[str], folder: Path, stack: ExitStack) -> StandIns:
    unknown = kinds - set(_standins.KINDS)
    assert not unknown, f"no such stand-in: {sorted(unknown)}"
    running = StandIns({}, {})
    if kinds & {"router", "ray", "cluster"}:  # Ray's actors send to the router's stand-in
        server = stack.enter_context(_standins.router())
        for kind in ("router", "ray", "cluster"):
            running.env[kind] = {
                "TRANSCRIBE_BASE_URL": server.base_url,
                "TRANSCRIBE_API_KEY": _standins.KEY,
            }
            running.addresses[kind] = {_standins.ROUTER_URL: server.base_url}
    if "cluster" in kinds:
        running.env["cluster"].update(stack.enter_context(_standins.cluster()))
    if "serve" in kinds:
        root = stack.enter_context(_standins.serve(folder))
        running.addresses["serve"] = {_standins.SERVE_URL: root}
    if "proxy" in kinds:  # the router, by its real name, through a company's proxy
        network = folder / "company"
        network.mkdir()
        running.addresses["proxy"] = stack.enter_context(_standins.company_network(network))
        running.env["proxy"] = {
            "TRANSCRIBE_BASE_URL": _standins.ROUTER_URL,
            "TRANSCRIBE_API_KEY": _standins.KEY,
        }
    if "web" in kinds:
        root = stack.enter_context(_standins.web())
        running.addresses["web"] = {_standins.WEB_URL: root}
    return running


def _run_bash(snippet: Snippet, work: Path, env: dict[str, str], code: str) -> str | None:
    with open(work / "examples" / "audio" / "hello.wav", "rb") as stdin:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=work,
            env=env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    if done.returncode == 0:
        return None
    return f"exit status {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def run_page(path: Path, folder: Path) -> list[str | None]:
    """Run the page's runnable blocks, python first, then bash, with the stand-ins they
    name running; for each, in the page's order, ``None`` or what went wrong."""
    snippets = [s for s in snippets_of(path) if s.skip is None]
    with ExitStack() as stack:
        kinds = {s.stand_in for s in snippets if s.stand_in is not None}
        stand_ins = _start_stand_ins(kinds, folder, stack)
        return _run_blocks(snippets, folder, stand_ins)


def _run_blocks(snippets: list[Snippet], folder: Path, stand_ins: StandIns) -> list[str | None]:
    runnable = [s for s in snippets if s.lang == "python"]
    work = _workspace(folder / "work")
    env = _environment()
    blocks = folder / "blocks.json"
    out = folder / "results.json"
    listed = [
        {
            "where": f"{s.page}:{s.line}",
            "code": stand_ins.code(s),
            "env": stand_ins.env_of(s),
            "session": s.stand_in if s.stand_in in _standins.SESSIONS else None,
        }
        for s in runnable
    ]
    blocks.write_text(json.dumps(listed), encoding="utf-8")
    errors: dict[int, str | None] = {}
    if runnable:
        with open(work / "examples" / "audio" / "hello.wav", "rb") as stdin:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, str(blocks), str(out)],
                cwd=work,
                env=env,
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        assert done.returncode == 0, done.stderr
        ran: list[str | None] = json.loads(out.read_text(encoding="utf-8"))
        errors.update({s.line: e for s, e in zip(runnable, ran, strict=True)})
    for snippet in snippets:
        if snippet.lang == "bash":
            bash_env = {**env, **stand_ins.env_of(snippet)}
            errors[snippet.line] = _run_bash(snippet, work, bash_env, stand_ins.code(snippet))
    return [errors[s.line] for s in snippets]


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[list]]]:
    """Every page, started in the background when the first one is needed."""
    with ThreadPoolExecutor(AT_ONCE) as pool:
        yield {
            page.name: pool.submit(run_page, page, tmp_path_factory.mktemp(page.stem))
            for page in PAGES
            if any(s.skip is None for s in snippets_of(page))
        }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_snippet_compiles(page: Path) -> None:
    for snippet in snippets_of(page):
        if snippet.lang == "python":
            compile(snippet.code, f"{snippet.page}:{snippet.line}", "exec")
        else:
            checked = subprocess.run(
                ["bash", "-n", "-c", snippet.code], capture_output=True, text=True, check=False
            )
            assert checked.returncode == 0, f"{snippet.page}:{snippet.line}: {checked.stderr}"


@pytest.mark.heavy  # every page's blocks, in processes of their own, many on the local engine
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_snippets_run_as_written(page: Path, page_runs: dict[str, Future[list]]) -> None:
    snippets = [s for s in snippets_of(page) if s.skip is None]
    if not snippets:
        pytest.skip("no runnable snippet on this page")
    results = page_runs[page.name].result()
    failures = [
        f"{s.page}:{s.line}\n{error}" for s, error in zip(snippets, results, strict=True) if error
    ]
    assert not failures, "\n\n".join(failures)


def _git_status() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("not a git clone")
    return done.stdout


@pytest.fixture(scope="module")
def status_before() -> str:
    return _git_status()


@pytest.mark.heavy  # waits for every page's run
def test_the_clone_is_left_clean(status_before: str, page_runs: dict[str, Future[list]]) -> None:
    for run in page_runs.values():
        run.result()  # every page has run (a failure is reported by its own test)
    assert _git_status() == status_before


def test_snippet_census() -> None:
    """How many blocks run (against a stand-in or not) and how many are skipped, and why:
    printed (``pytest -s``) and bounded, so a page cannot quietly stop running its blocks."""
    every = [s for page in PAGES for s in snippets_of(page)]
    run = [s for s in every if s.skip is None]
    standing_in = [s for s in run if s.stand_in is not None]
    skipped = [s for s in every if s.skip is not None]
    print(
        f"\n{len(every)} blocks: {len(run)} run ({len(standing_in)} against a stand-in), "
        f"{len(skipped)} skipped"
    )
    for snippet in standing_in:
        print(f"  stand-in {snippet.page}:{snippet.line} ({snippet.lang}): {snippet.stand_in}")
    for snippet in skipped:
        print(f"  skipped {snippet.page}:{snippet.line} ({snippet.lang}): {snippet.skip}")
    assert {s.stand_in for s in standing_in} <= set(_standins.KINDS)
    assert len(standing_in) >= 17
    assert len([s for s in run if s.lang == "bash"]) >= 5
    assert len(skipped) <= len(every) // 6


def test_snippets_are_found_and_skips_say_why() -> None:
    every = [s for page in PAGES for s in snippets_of(page) if s.lang == "python"]
    assert len(every) >= 60
    runnable = [s for s in every if s.skip is None]
    assert len(runnable) >= len(every) * 3 // 4  # most run; a few need a key or a server
    assert all(s.skip.strip() for s in every if s.skip is not None)
    tabbed = [s for s in every if s.page == "migrating-from-openai-python.md"]
    assert tabbed
    assert not tabbed[0].code.startswith(" ")  # blocks inside tabs are dedented


def test_the_skip_marker_is_read(tmp_path: Path) -> None:
    page = "text\n\n<!-- snippet: skip (needs an API key) -->\n```python\nx = 1\n```\n"
    page += "\n```python\ny = 2\n```\n"
    page += "\n<!-- snippet: stand-in (router) -->\n```bash\ntranscribe a.wav\n```\n"
    (tmp_path / "page.md").write_text(page, encoding="utf-8")
    found = snippets_of(tmp_path / "page.md")
    assert [(s.code, s.skip, s.stand_in) for s in found] == [
        ("x = 1\n", "needs an API key", None),
        ("y = 2\n", None, None),
        ("transcribe a.wav\n", None, "router"),
    ]


def test_a_real_address_is_replaced_by_the_stand_ins() -> None:
    code = 'OpenAI(base_url="http://127.0.0.1:8000/v1")\nurl = "http://127.0.0.1:80001"\n'
    local = _standins.localise(code, {_standins.SERVE_URL: "http://127.0.0.1:4321"})
    assert local.splitlines() == [
        'OpenAI(base_url="http://127.0.0.1:4321/v1")',
        'url = "http://127.0.0.1:80001"',
    ]


# -- the reference: every keyword of transcribe described --------------------------------------


def test_every_transcribe_option_has_a_one_line_description() -> None:
    import ast
    import inspect

    from transcribe_sdk import TranscribeOptions

    source = inspect.getsourcefile(TranscribeOptions)
    assert source is not None
    tree = ast.parse(Path(source).read_text(encoding="utf-8"))
    body = next(
        node.body
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == "TranscribeOptions"
    )
    described = {}
    for field, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name):
            doc = after.value.value if isinstance(after, ast.Expr) else None
            described[field.target.id] = doc
    assert set(described) == set(TranscribeOptions.__annotations__)
    missing = [name for name, doc in described.items() if not isinstance(doc, str) or not doc]
    assert not missing, f"no attribute docstring: {missing}"


@pytest.mark.parametrize("method", ["Client.transcribe", "AsyncClient.transcribe"])
def test_help_of_transcribe_lists_every_keyword(method: str) -> None:
    import pydoc

    import transcribe_sdk
    from transcribe_sdk import TranscribeOptions

    owner, name = method.split(".")
    text = pydoc.render_doc(getattr(getattr(transcribe_sdk, owner), name), renderer=pydoc.plaintext)
    for keyword in ["file", "model", "response_format", *TranscribeOptions.__annotations__]:
        line = next(
            (ln for ln in text.splitlines() if ln.strip().startswith(f"- ``{keyword}``:")), ""
        )
        assert len(line.split(":", 1)[1].strip()) > 5, f"{keyword} is not described in {method}"


def test_the_reference_shows_one_signature_per_method() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+show_overloads: false", config, re.M)


def test_code_blocks_wrap_rather_than_scroll() -> None:
    """Checked by rendering at 1280 px (no block overflowed); this keeps the rule in place."""
    css = (ROOT / "docs" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    rule = re.search(r"\.md-typeset pre > code \{([^}]*)\}", css)
    assert rule is not None
    assert "white-space: pre-wrap" in rule.group(1)
