"""The local stand-ins the docs' blocks run against (a helper of ``tests/test_docs_snippets.py``).

A block marked ``<!-- snippet: stand-in (NAME) -->`` needs something this machine does not have;
the stand-in called NAME takes its place, on 127.0.0.1, for the whole run of that page:

- ``router``: :func:`router`, a real HTTP server (``socket_server.ScriptedServer``) that answers
  as the cortecs.ai router would, through ``transcribe_sdk.testing.FakeServer``'s canned bodies:
  the transcript in the format asked for, ``provider`` ``"ovh"``, LiteLLM's route headers
  (``FakeServer``'s :data:`~transcribe_sdk.testing.LITELLM_HEADERS`), speaker-labelled segments
  for ``diarized_json`` (named after ``known_speaker_names`` when given), and a 401 to a request
  without a bearer key. The block runs with ``TRANSCRIBE_BASE_URL`` set to it and
  ``TRANSCRIBE_API_KEY`` set to :data:`KEY`.
- ``ray``: a Ray cluster on this machine (the block's ``ray.init()``, or the one Ray Data starts
  by itself), whose actors send to the ``router`` stand-in, with the same environment. The
  ``ray`` blocks of a page share one namespace, in the page's order, as in one session (the
  ``ds`` of the first is the ``ds`` of the next); the cluster ends with the page's process.
- ``cluster``: :func:`cluster`, a Ray cluster started as a user starts one (``ray start --head``,
  2 CPUs, every address on 127.0.0.1), for the blocks that join a cluster already running
  (``--ray auto``). It keeps its files in a folder of its own, so it is not the machine's "last
  cluster": the block finds it by ``RAY_ADDRESS``, as Ray looks there first. Its actors send to
  the ``router`` stand-in. It is stopped by signals to its own process group (``ray stop``
  would end every cluster on the machine).
- ``proxy``: :func:`company_network`, a company network's way out: a proxy that answers
  ``CONNECT`` (what an HTTPS request through an HTTP proxy sends) and joins every tunnel to the
  ``router`` stand-in, served over TLS under the router's real name (``api.cortecs.ai``) with a
  certificate from a CA of its own, as a proxy that re-signs traffic would. The block names
  :data:`PROXY_URL` and :data:`COMPANY_CA`, which become the proxy's address and the CA's
  file; it runs with the router's key and its real URL, and must have gone through the proxy.
- ``web``: :func:`web`, a web server holding the sample speech (``hello.mp3``) at every path,
  in place of :data:`WEB_URL`, the host a ``from_url`` example downloads from. It answers as a
  file host does (``Content-Type: audio/mpeg``, ``Content-Length``), and each block must have
  fetched from it.
- ``serve``: :func:`serve`, the installed ``transcribe-sdk serve`` on a free port (its default
  local model), stopped with Ctrl+C (SIGINT) after the page's run, killed if it is not gone
  within ``_serving.STOP_TIMEOUT`` seconds. Its access log must show every transcription
  request answered with a 200 (``curl`` exits with 0 on an error status).

A block names the real addresses, as a user copies them: :data:`ROUTER_URL` (openai-python's
``base_url``), :data:`SERVE_URL` (serve's default port) and :data:`WEB_URL`. The runner puts
the stand-in's address in their place in the text it runs (:func:`localise`), so nothing is
sent to another host, and a port 8000 taken by something else on the machine does not matter.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from _serving import command, env_without_keys
from socket_server import Answer, Recorded, ScriptedServer

from transcribe_sdk.testing import LITELLM_HEADERS, FakeServer

KINDS = ("router", "serve", "ray", "cluster", "proxy", "web")
"""The stand-ins there are (a marker naming another is an error of the page)."""
ROUTER_URL = "https://api.cortecs.ai/v1"
SERVE_URL = "http://127.0.0.1:8000"
WEB_URL = "https://example.com"
PROXY_URL = "http://proxy.internal:3128"
COMPANY_CA = "/etc/ssl/certs/company-root-ca.pem"
SPEECH = Path(__file__).parent / "fixtures" / "hello.mp3"
SESSIONS = ("ray",)
"""The stand-ins whose blocks on a page continue one another (one namespace)."""
KEY = "sk-docs-stand-in"
"""The API key in the environment of a ``router`` block (the stand-in wants one, as the router
does)."""
TEXT = "Hello world. This is a test of the transcription client."
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _diarized_segments(speakers: list[str]) -> list[dict[str, object]]:
    words = TEXT.split(". ")
    return [
        {"id": f"seg_{i}", "start": 2.0 * i, "end": 2.0 * i + 2.0, "text": text,
         "speaker": speakers[i % len(speakers)], "type": "transcript.text.segment"}
        for i, text in enumerate(words)
    ]  # fmt: skip


def _as_router(request: Recorded) -> Answer:
    """The router's answer to ``request``: FakeServer's canned body, sent over the socket."""
    fake = FakeServer(default_text=TEXT)
    if not (request.header("authorization") or "").startswith("Bearer "):
        fake.add_error(401, "Missing API key", error_type="invalid_request_error")
    else:
        form = request.form()
        if form.field("response_format") == "diarized_json":
            names = [
                v for k, v in form.fields() if k in ("known_speaker_names", "known_speaker_names[]")
            ]
            segments = _diarized_segments(names or ["A", "B"])
            fake.add_result(TEXT, response_headers=LITELLM_HEADERS, segments=segments, duration=4.0)
        elif form.field("stream") != "true":
            fake.add_result(TEXT, response_headers=LITELLM_HEADERS, provider="ovh")
    headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
    asked = httpx.Request(request.method, "http://router" + request.path, headers=headers,
                          content=request.body)  # fmt: skip
    answer = fake.handle_request(asked)
    sent = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
    return Answer(answer.status_code, sent, answer.content)


@contextlib.contextmanager
def router() -> Iterator[ScriptedServer]:
    """The router's stand-in, until the end of the ``with`` block."""
    with ScriptedServer(_as_router) as server:
        yield server
    assert not server.errors, server.errors


TUNNEL_IDLE = 30.0
"""Seconds a proxy tunnel may carry nothing before it is closed."""
_HEAD_LIMIT = 16 * 1024


class _Tunnels(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.target = target
        self.asked: list[str] = []  # the CONNECT targets, in order


class _Tunnel(socketserver.BaseRequestHandler):
    """One client of the proxy: its ``CONNECT`` head, then bytes both ways until either side
    closes or :data:`TUNNEL_IDLE` passes."""

    server: _Tunnels

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
            got = self.request.recv(4096)
            if not got:
                return
            head += got
        method, _, rest = head.partition(b" ")
        if method != b"CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.asked.append(rest.split(b" ", 1)[0].decode("ascii", "replace"))
        with socket.create_connection(self.server.target, timeout=TUNNEL_IDLE) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(self.request, upstream)


def _relay(one: socket.socket, other: socket.socket) -> None:
    with selectors.DefaultSelector() as waiting:
        waiting.register(one, selectors.EVENT_READ, other)
        waiting.register(other, selectors.EVENT_READ, one)
        while True:
            ready = waiting.select(TUNNEL_IDLE)
            if not ready:
                return
            for key, _ in ready:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


@contextlib.contextmanager
def company_network(folder: Path) -> Iterator[dict[str, str]]:
    """The router behind a re-signing proxy: the addresses to put in place of
    :data:`PROXY_URL` and :data:`COMPANY_CA`, until the end of the ``with`` block, which
    checks that the proxy carried a request to the router."""
    ca = trustme.CA()
    ca_file = folder / "company-root-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(httpx.URL(ROUTER_URL).host).configure_cert(context)
    with ScriptedServer(_as_router, tls=context) as server:
        tunnels = _Tunnels(("127.0.0.1", server.port))
        thread = threading.Thread(target=tunnels.serve_forever, name="proxy", daemon=True)
        thread.start()
        try:
            yield {PROXY_URL: f"http://127.0.0.1:{tunnels.server_address[1]}",
                   COMPANY_CA: str(ca_file)}  # fmt: skip
        finally:
            tunnels.shutdown()
            tunnels.server_close()
            thread.join(TUNNEL_IDLE)
    assert tunnels.asked, "no block went through the proxy's stand-in"
    assert set(tunnels.asked) == {"api.cortecs.ai:443"}, tunnels.asked
    assert server.requests, "the proxy's tunnel reached no router"
    assert not server.errors, server.errors


def _as_file_host(request: Recorded) -> Answer:
    if request.method != "GET":
        return Answer(405, [("Allow", "GET")])
    return Answer(200, [("Content-Type", "audio/mpeg")], SPEECH.read_bytes())


@contextlib.contextmanager
def web() -> Iterator[str]:
    """A file host holding the sample speech at every path: its root URL, until the end of the
    ``with`` block, which checks that it was asked."""
    with ScriptedServer(_as_file_host) as server:
        yield server.url
    assert server.requests, "no block reached the web server's stand-in"
    assert not server.errors, server.errors


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``transcribe-sdk serve`` on a free port: its root URL (``http://127.0.0.1:PORT``)."""
    with command(folder, env=env_without_keys()) as process:
        yield process.base_url.removesuffix("/v1")
        process.stop(signal.SIGINT)  # bounded: killed by ``command`` if it overstays
    # curl exits with 0 whatever the status: the access log says how each request went
    answered = re.findall(r'"POST /v1/audio/transcriptions HTTP/[0-9.]+" ([0-9]{3})', process.log())
    assert answered, "no block reached the server's stand-in"
    assert set(answered) == {"200"}, process.log()


def localise(code: str, addresses: dict[str, str]) -> str:
    """``code`` with each real address in ``addresses`` replaced by its stand-in's (a whole
    address only: port 8000 is not the start of port 80001)."""
    for real, local in addresses.items():
        code = re.sub(re.escape(real) + r"(?![0-9])", lambda _, new=local: new, code)
    return code


CLUSTER_START = 120.0
"""Seconds ``ray start`` may take to say the cluster runs (a loaded 2-core machine: ~5 s)."""
CLUSTER_STOP = 20.0
"""Seconds the cluster gets to end on SIGTERM before its processes are killed."""
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray binds to this machine's network address unless told it is no cluster of several
machines: then every address is 127.0.0.1 (the setting Ray reads on macOS and Windows)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes_naming(text: str) -> list[int]:
    """The processes whose command line holds ``text`` (the cluster's own folder): from
    ``/proc`` on Linux, from ``ps`` where there is none (macOS)."""
    found = []
    if not Path("/proc/self/cmdline").exists():
        listing = subprocess.run(
            ["ps", "-A", "-o", "pid=", "-o", "args="],
            capture_output=True,
            text=True,
            timeout=CLUSTER_STOP,
            check=True,
        ).stdout
        for line in listing.splitlines():
            pid, _, args = line.strip().partition(" ")
            if text in args and pid.isdigit() and int(pid) != os.getpid():
                found.append(int(pid))
        return found
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _end_group(process: subprocess.Popen[bytes], folder: str) -> None:
    """SIGTERM to the cluster's process group, SIGKILL to what is left after
    :data:`CLUSTER_STOP` seconds, and to any process still naming its folder."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + CLUSTER_STOP
    while time.monotonic() < deadline and _processes_naming(folder):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in _processes_naming(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=CLUSTER_STOP)


@contextlib.contextmanager
def cluster() -> Iterator[dict[str, str]]:
    """A Ray cluster of this machine started by ``ray start --head --block``: the environment a
    block joins it with (``RAY_ADDRESS``, and the cluster's token as ``RAY_AUTH_TOKEN``), until
    the end of the ``with`` block."""
    pytest.importorskip("ray.data")
    port = _free_port()
    # Its own token, given to both sides: ray start would otherwise write one to the user's
    # ~/.ray/auth_token (or take the one there), outside what the stand-in cleans up.
    token = {"RAY_AUTH_TOKEN": secrets.token_hex(32)}
    # short: Ray's socket paths under it must stay within 107 bytes
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    log = Path(folder) / "start.log"
    command = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
        "--disable-usage-stats", f"--temp-dir={folder}",
        # not Ray's fixed 52365, which a cluster of tests/test_ray.py may hold at the time
        f"--dashboard-agent-listen-port={_free_port()}",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **LOOPBACK_ONLY, **token},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended as one
        )
    try:
        deadline = time.monotonic() + CLUSTER_START
        while b"Ray runtime started" not in log.read_bytes():
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "ray start did not start within the time"
            time.sleep(0.2)
        yield {"RAY_ADDRESS": f"127.0.0.1:{port}", **LOOPBACK_ONLY, **token}
    finally:
        _end_group(process, folder)
        shutil.rmtree(folder, ignore_errors=True)
