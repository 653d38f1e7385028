"""transcribe_sdk.ray on a small local Ray cluster, against a loopback server that records
every request (arrival time, concurrency), and the ``--ray`` command path.

One cluster serves the module (2 CPUs, 127.0.0.1, no dashboard) and is shut down at its end.
Timing assertions are lower bounds only (a limit makes things slower, never faster; a loaded
machine only adds to that), and every count is exact.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import pyarrow.parquet as pq  # noqa: E402  (comes with ray[data])
from conftest import API_KEY, FIXTURES  # noqa: E402
from internals import (  # noqa: E402
    RAY_METRICS_ENV,
    RemoteFailure,
    actor_runtime_env,
    add_ray_arguments,
    as_json,
    transcribe_args_on_ray,
    transcribe_on_ray,
)
from socket_server import Answer, Recorded, ScriptedServer, echo_upload, json_reply  # noqa: E402

from transcribe_sdk import BatchResult, InvalidInputError  # noqa: E402
from transcribe_sdk.ray import (  # noqa: E402
    RateLimit,
    cluster_cpus,
    default_concurrency,
    transcribe_dataset,
)
from transcribe_sdk.testing import LITELLM_HEADERS  # noqa: E402

pytestmark = [
    pytest.mark.network,
    pytest.mark.heavy,  # a Ray cluster of its own (pytest -m heavy)
    # Ray's own modules warn about its own settings on import and on DataContext.get_current().
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
    # ray.init of older Ray (2.45) leaves /dev/null handles and Popen objects to the collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        namespace="transcribe-sdk-tests",
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


class Counting:
    """A responder that takes ``service`` seconds per request and records the peak overlap."""

    def __init__(self, service: float, answer: Callable[[Recorded], Answer] = echo_upload) -> None:
        self.service, self.answer = service, answer
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __call__(self, request: Recorded) -> Answer:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.service)
            return self.answer(request)
        finally:
            with self.lock:
                self.now -= 1


def _items(count: int, prefix: str = "f") -> list[dict[str, Any]]:
    # Distinct bytes per file (the content is half of the resume key).
    return [
        {"path": f"{prefix}{i}.wav", "bytes": f"RIFF{prefix}{i:04}".encode() * 64}
        for i in range(count)
    ]


def _run(
    server: ScriptedServer,
    items: list[dict[str, Any]],
    write_to: Path | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    ds = ray.data.from_items(items)
    out = transcribe_dataset(
        ds, model="whisper-1", base_url=server.base_url, api_key=API_KEY, **kwargs
    )
    if write_to is None:
        rows: list[dict[str, Any]] = out.take_all()
    else:  # as a user would: straight to Parquet, then read back
        out.write_parquet(str(write_to))
        rows = pq.read_table(write_to).to_pylist()
    return sorted(rows, key=lambda r: r["path"])


def test_in_flight_cap_holds_across_actors() -> None:
    counting = Counting(0.15)
    with ScriptedServer(counting) as server:
        rows = _run(
            server,
            _items(18),
            rate_limit=RateLimit(max_in_flight=2, name="cap"),
            concurrency=3,
            batch_size=4,
        )
        assert len(server.requests) == 18
    assert [r["error"] for r in rows] == [None] * 18
    assert sorted(r["text"] for r in rows) == sorted(f"f{i}.wav" for i in range(18))
    assert 1 <= counting.peak <= 2


def test_requests_per_minute_spaces_starts_across_actors() -> None:
    interval = 0.3  # 200 a minute
    with ScriptedServer(Counting(0.01)) as server:
        rows = _run(
            server,
            _items(9),
            rate_limit=RateLimit(requests_per_minute=200, name="rpm"),
            concurrency=3,
            batch_size=3,
        )
        arrivals = sorted(r.started for r in server.requests)
    assert [r["error"] for r in rows] == [None] * 9
    assert len(arrivals) == 9
    # Unlimited, 9 quick requests from 3 actors arrive within a few tens of ms; spaced, the
    # first and the last are at least 8 intervals apart (less a second for delivery jitter).
    assert arrivals[-1] - arrivals[0] >= 8 * interval - 1.0


def test_429_with_retry_after_pauses_every_actor() -> None:
    pause = 1.5
    with ScriptedServer(Counting(0.01)) as server:
        server.queue(json_reply({"error": {"message": "slow down"}}, 429, {"Retry-After": "1.5"}))
        rows = _run(
            server,
            _items(6),
            rate_limit=RateLimit(max_in_flight=1, name="pause"),
            concurrency=2,
            batch_size=3,
        )
        requests = server.requests
    assert [r["error"] for r in rows] == [None] * 6
    assert len(requests) == 7  # the rate-limited file was sent again
    limited = requests[0]
    # No actor, this one or the other, started a request while the pause held.
    assert all(r.started >= limited.finished + pause for r in requests[1:])


def _failing(request: Recorded) -> Answer:
    name = request.form().file().filename or ""
    if name.startswith("bad"):
        return json_reply({"error": {"message": "not audio", "param": "file"}}, 400)
    if name.startswith("down"):
        return json_reply({"error": {"message": "provider down"}}, 503)
    return echo_upload(request)


def test_failures_are_rows_and_resume_skips_what_is_done(tmp_path: Path) -> None:
    items = [*_items(3, "ok"), *_items(1, "bad"), *_items(1, "down")]
    items.append({"path": str(tmp_path / "missing.wav")})  # read by the actor: it is not there
    out = tmp_path / "out"
    with ScriptedServer(_failing) as server:
        rows = _run(server, items, out, concurrency=2, batch_size=3, max_retries=1)
        first_requests = len(server.requests)
    errors = {Path(r["path"]).name: r["error"] for r in rows}
    assert errors["ok0.wav"] is None
    assert errors["bad0.wav"].startswith("BadRequestError: ")
    assert errors["down0.wav"].startswith("InternalServerError: ")
    assert "Gave up after 2 attempts" in errors["down0.wav"]
    assert errors["missing.wav"].startswith("FileNotFoundError: ")
    assert first_requests == 3 + 1 + 2  # the 503 was retried once; the missing file never sent
    assert API_KEY not in json.dumps(rows)

    with ScriptedServer(echo_upload) as server:  # the provider is back
        again = _run(server, items, concurrency=2, batch_size=3, resume_from=str(out))
        sent = sorted(r.form().file().filename or "" for r in server.requests)
    # Only what failed is done again (the missing file fails again, without a request).
    assert sent == ["bad0.wav", "down0.wav"]
    redone = {Path(r["path"]).name: r["error"] for r in again}
    assert sorted(redone) == ["bad0.wav", "down0.wav", "missing.wav"]
    assert (redone["bad0.wav"], redone["down0.wav"]) == (None, None)
    assert redone["missing.wav"].startswith("FileNotFoundError: ")


def test_a_different_request_is_new_work(tmp_path: Path) -> None:
    with ScriptedServer(echo_upload) as server:
        out = tmp_path / "out"
        _run(server, _items(2), out, concurrency=1)
        rerun = _run(server, _items(2), concurrency=1, resume_from=str(out), language="fr")
        assert len(server.requests) == 4
    assert all(r["error"] is None for r in rerun)


def test_bad_options_fail_before_the_job_starts() -> None:
    ds = ray.data.from_items(_items(1))
    with pytest.raises(InvalidInputError, match="language"):
        transcribe_dataset(ds, model="m", api_key=API_KEY, language="not a language")
    with pytest.raises(InvalidInputError, match="concurrency"):
        transcribe_dataset(ds, model="m", api_key=API_KEY, concurrency=0)
    with pytest.raises(InvalidInputError, match="rate_limit"):
        transcribe_dataset(ds, model="m", api_key=API_KEY, rate_limit=5)  # type: ignore[arg-type]


def test_actors_the_cluster_cannot_place_fail_at_once() -> None:
    # 8 network actors of 0.25 CPU fill both CPUs: nothing left to run Ray Data's own tasks.
    ds = ray.data.from_items(_items(1))
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="concurrency") as caught:
        transcribe_dataset(ds, model="m", api_key=API_KEY, concurrency=8)
    assert time.monotonic() - started < 60  # refused when built, not a job waiting for ever
    message = str(caught.value)
    assert "8 actors reserving 0.25 CPU each need 2 CPUs" in message
    assert "concurrency=4 or less" in message
    with pytest.raises(InvalidInputError, match="num_cpus"):
        transcribe_dataset(ds, model="m", api_key=API_KEY, concurrency=1, num_cpus=2)
    transcribe_dataset(ds, model="m", api_key=API_KEY, concurrency=(1, 16))  # a min that fits


def test_the_default_concurrency_follows_the_clusters_cpus() -> None:
    assert cluster_cpus() == 2
    assert default_concurrency(0.25, 2) == 4  # one CPU kept for reading
    assert default_concurrency(1.0, 2) == 1
    assert default_concurrency(1.0, 1) == 1  # never 0
    assert default_concurrency(0.25, 64) == 32  # bounded
    assert default_concurrency(0.25, 8) == 28


def test_an_unreachable_cluster_is_one_line_naming_ray(tmp_path: Path) -> None:
    from internals import unreachable as _unreachable

    no_cluster = ConnectionError("Could not find any running Ray instance.")
    assert "ray start --head" in _unreachable("auto", no_cluster)
    assert "RAY_AUTH_MODE" not in _unreachable("auto", no_cluster)  # no one refused us
    assert "\n" not in _unreachable("h:6379", OSError("a\nb"))


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["--ray", "127.0.0.1:{port}"], {}, "127.0.0.1:{port}: nothing answers"),
        (["--ray", "auto"], {"RAY_ADDRESS": "127.0.0.1:{port}"}, "127.0.0.1:{port}: nothing"),
        (["--ray=ray://127.0.0.1:{port}"], {}, "ray job submit"),
        (["--ray", "auto"], {"RAY_ADDRESS": "ray://127.0.0.1:{port}"}, "RAY_ADDRESS=ray://"),
    ],
)
def test_the_command_ends_in_one_line_where_no_cluster_answers(
    tmp_path: Path, argv: list[str], env: dict[str, str], said: str
) -> None:
    # Ray retries an address where nothing answers for minutes (its C++ warnings on the
    # terminal); the command tries the address first and stops at once, exit status 2.
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    audio = tmp_path / "a.wav"
    audio.write_bytes((FIXTURES / "hello.wav").read_bytes())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "transcribe"), str(audio)]
        + [a.format(port=port) for a in argv],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "RAY_"))},
            "TRANSCRIBE_API_KEY": API_KEY,
            **{k: v.format(port=port) for k, v in env.items()},
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("transcribe: --ray: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert said.format(port=port) in done.stderr
    assert "RAY_AUTH_MODE" not in done.stderr
    assert API_KEY not in done.stderr


def test_the_command_sends_this_machines_token_to_a_cluster_ray_start_began(
    tmp_path: Path,
) -> None:
    # ray start (Ray 2.59+) turns token authentication on; a driver sends the token only with
    # RAY_AUTH_MODE=token, and without it Ray retries for ~20 s, then fails. The command sends
    # the token this machine holds (here RAY_AUTH_TOKEN, as ray start took it) by itself.
    from _standins import cluster

    audio = tmp_path / "a.wav"
    audio.write_bytes((FIXTURES / "hello.wav").read_bytes())
    with ScriptedServer(echo_upload) as server, cluster() as joined:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "RAY_"))}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "transcribe"), str(audio), "--ray", "auto"],
            env={
                **env,
                **joined,
                "TRANSCRIBE_BASE_URL": server.base_url,
                "TRANSCRIBE_API_KEY": API_KEY,
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert "RAY_AUTH_MODE" not in joined
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(server.requests) == 1
    assert "InvalidAuthToken" not in done.stderr  # no retries for want of the token
    assert "a.wav" in (tmp_path / "a.wav.txt").read_text()  # echo_upload's text: the name


def test_a_token_sent_and_refused_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from internals import unreachable as _unreachable

    refused = ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6379")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # as the command set it
    said = _unreachable("auto", refused, sent_token=True)
    assert "may not be the cluster's" in said
    assert "\n" not in said


def test_an_existing_cluster_that_refuses_names_rays_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray 2.59+ `ray start` turns token authentication on, but a driver sends the token only
    # with RAY_AUTH_MODE=token, and the refusal is in Ray's log, not in the exception.
    from internals import unreachable as _unreachable

    refused = ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6379")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    for address in ("auto", "127.0.0.1:6379"):
        assert "RAY_AUTH_MODE=token" in _unreachable(address, refused)
    assert "RAY_AUTH_MODE" not in _unreachable("", refused)  # a new cluster of our own
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert "RAY_AUTH_MODE" not in _unreachable("auto", refused)


def test_the_actors_start_with_rays_metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray's metrics thread can abort an actor while Ray Data releases it (transcribe_sdk/ray/
    # _actors.py): the actors start with Ray's metrics off, unless the driver's environment
    # names the switch itself.
    asked: list[Any] = []
    map_batches = ray.data.Dataset.map_batches

    def recording(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "TranscribeBatch":
            asked.append(kwargs.get("runtime_env"))
        return map_batches(self, fn, *args, **kwargs)

    monkeypatch.setattr(ray.data.Dataset, "map_batches", recording)
    monkeypatch.delenv(RAY_METRICS_ENV, raising=False)
    limit = RateLimit(max_in_flight=2, name="metrics-off")
    with ScriptedServer(echo_upload) as server:
        rows = _run(server, _items(2, "m"), concurrency=1, rate_limit=limit)
    assert [(r["error"], r["text"]) for r in rows] == [(None, "m0.wav"), (None, "m1.wav")]
    assert asked == [{"env_vars": {RAY_METRICS_ENV: "0"}}]
    for choice in ("1", "0"):  # the user's own setting wins, either way
        monkeypatch.setenv(RAY_METRICS_ENV, choice)
        assert actor_runtime_env() is None


def test_local_engine_loads_once_per_actor_and_transcribes(manifest: dict[str, str]) -> None:
    ds = ray.data.from_items([{"path": str(FIXTURES / "hello.wav")}] * 2)
    out = transcribe_dataset(
        ds, model="tiny.en", base_url="local", response_format="verbose_json", concurrency=1
    )
    rows = out.take_all()
    assert [r["error"] for r in rows] == [None, None]
    assert "hello" in rows[0]["text"].lower()
    assert (rows[0]["duration"] or 0) > 0
    assert json.loads(rows[0]["segments"])[0]["text"]


# -- the command line path -------------------------------------------------------------------
def test_cli_flags_parse() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inputs", nargs="+")
    add_ray_arguments(parser)
    args = parser.parse_args(["a.wav", "--ray", "--max-in-flight", "8", "--rpm", "600"])
    assert (args.ray, args.max_in_flight, args.rpm, args.inputs) == ("", 8, 600, ["a.wav"])
    assert parser.parse_args(["a.wav", "--ray", "ray://head:10001"]).ray == "ray://head:10001"
    assert parser.parse_args(["a.wav"]).ray is None
    with pytest.raises(SystemExit):  # an input where the address goes: a usage error
        parser.parse_args(["--ray", "a.wav", "b.wav"])
    with pytest.raises(SystemExit):
        parser.parse_args(["a.wav", "--rpm", "0"])


@pytest.mark.parametrize("fmt", ["text", "verbose_json"])
def test_cli_path_delivers_each_file_in_input_order(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", API_KEY)  # read by the driver, handed to actors
    files = []
    for i in range(4):
        path = tmp_path / ("bad.wav" if i == 2 else f"f{i}.wav")
        path.write_bytes(b"RIFF" + bytes([i]) * 64)
        files.append(path)
    delivered: list[BatchResult[Any]] = []

    def answer(request: Recorded) -> Answer:
        reply = _failing(request)
        if reply.status == 200 and fmt == "text":
            return Answer(200, (("Content-Type", "text/plain"),), b"said it\n")
        if reply.status == 200:
            body = {"text": "said it", "duration": 1.5, "segments": []}
            return json_reply(body, headers=LITELLM_HEADERS)  # a router's words on its route
        return reply

    with ScriptedServer(answer) as server:
        if fmt == "text":
            results = transcribe_on_ray(
                files,
                address="",  # the module's cluster is already up: it is used, not replaced
                model="whisper-1",
                response_format=fmt,
                options={"max_retries": 0, "timeout": 30.0},
                deliver=delivered.append,
                base_url=server.base_url,
                concurrency=2,
                max_in_flight=2,
                rpm=6000,
            )
        else:  # as the command calls it: with its parsed arguments
            args = argparse.Namespace(
                ray="",
                model="whisper-1",
                format=fmt,
                retries=0,
                timeout=None,
                local=False,
                base_url=server.base_url,
                concurrency=2,
                max_in_flight=None,
                rpm=None,
                split=False,
            )
            results = transcribe_args_on_ray(files, args, {"language": "en"}, delivered.append)
    assert ray.is_initialized()
    assert [r.input for r in results] == files
    assert sorted(d.index for d in delivered) == [0, 1, 2, 3]
    assert [r.ok for r in results] == [True, True, False, True], [str(r.error) for r in results]
    failure = results[2].error
    assert isinstance(failure, RemoteFailure)
    assert failure.error_type == "BadRequestError"
    assert "not audio" in str(failure)
    ok = results[0].unwrap()
    if fmt == "text":
        assert ok == "said it"  # one rule for text: no surrounding whitespace
    else:
        assert ok.text == "said it"
        assert ok.duration == 1.5
        # The route and cost the row kept come back on the result, as without --ray.
        assert ok.route.model_group == LITELLM_HEADERS["x-litellm-model-group"]
        assert ok.route.cost == pytest.approx(float(LITELLM_HEADERS["x-litellm-response-cost"]))
        assert json.loads(as_json(ok))["cost"] == ok.route.cost


def test_cli_path_sizes_the_local_engine_chosen_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # TRANSCRIBE_BASE_URL=local and no --local: each actor reserves a whole CPU, so the
    # command's default --concurrency 4 on this 2-CPU cluster must scale from 1, not ask for 4
    # (which transcribe_dataset refuses as a placement that can never happen).
    monkeypatch.setenv("TRANSCRIBE_BASE_URL", "local")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    delivered: list[BatchResult[Any]] = []
    results = transcribe_on_ray(
        [FIXTURES / "hello.wav"],
        address="",
        model="tiny.en",
        response_format="text",
        options={},
        deliver=delivered.append,
        concurrency=4,
    )
    assert [r.ok for r in results] == [True], [str(r.error) for r in results]
    assert "hello" in results[0].unwrap().lower()
    assert len(delivered) == 1


def test_cli_path_rejects_a_bad_option_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSCRIBE_API_KEY", API_KEY)
    path = tmp_path / "a.wav"
    path.write_bytes(b"RIFF" * 16)
    stream = io.StringIO()
    with pytest.raises(InvalidInputError, match="temperature"):
        transcribe_on_ray(
            [path],
            address="",
            model="whisper-1",
            response_format="text",
            options={"temperature": 7},
            deliver=lambda item: stream.write(str(item)),
            base_url="http://127.0.0.1:9/v1",
            concurrency=1,
        )
    with pytest.raises(InvalidInputError, match="--split"):
        transcribe_on_ray(
            [path],
            address="",
            model="whisper-1",
            response_format="text",
            options={},
            deliver=lambda item: stream.write(str(item)),
            split=True,
        )
    # Ray Data's executor needs a driver on the cluster: through Ray's client it fails deep
    # inside Ray Data, so a ray:// address is refused before connecting, with what to do.
    with pytest.raises(InvalidInputError, match="ray job submit"):
        transcribe_on_ray(
            [path],
            address="ray://127.0.0.1:9",
            model="whisper-1",
            response_format="text",
            options={},
            deliver=lambda item: stream.write(str(item)),
        )
    assert stream.getvalue() == ""


def _idempotency(request: Recorded) -> str:
    return next(v for k, v in request.headers if k.lower() == "idempotency-key")


def test_a_resend_carries_the_rows_own_idempotency_key() -> None:
    # Each file is answered 503 once, then 200: the re-send carries the first send's key. A
    # second job over the same rows (as a retried task or a restarted actor would run it) sends
    # the same keys again: they come from the row, not from the attempt.
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def once_down(request: Recorded) -> Answer:
        name = request.form().file().filename or ""
        with lock:
            seen[name] = seen.get(name, 0) + 1
            first = seen[name] == 1
        if first:
            return json_reply({"error": {"message": "provider down"}}, 503)
        return echo_upload(request)

    items = _items(4, "idem")
    with ScriptedServer(once_down) as server:
        rows = _run(server, items, concurrency=2, batch_size=2, max_retries=2)
        first = server.requests
    with ScriptedServer(echo_upload) as server:
        _run(server, items, concurrency=1, batch_size=4)
        second = server.requests
    assert [r["error"] for r in rows] == [None] * 4
    assert len(first) == 8
    keys: dict[str, set[str]] = {}
    for request in [*first, *second]:
        keys.setdefault(request.form().file().filename or "", set()).add(_idempotency(request))
    row_keys = {Path(r["path"]).name: r["key"] for r in rows}
    assert keys == {name: {f"transcribe-sdk-{key}"} for name, key in row_keys.items()}


def test_a_shared_idempotency_key_is_refused_before_the_job_starts() -> None:
    with pytest.raises(InvalidInputError) as caught:
        transcribe_dataset(
            ray.data.from_items(_items(1)),
            model="whisper-1",
            base_url="http://127.0.0.1:9/v1",
            api_key=API_KEY,
            extra_headers={"Idempotency-Key": "one-for-all"},
        )
    assert caught.value.param == "extra_headers"


def test_a_limiter_that_dies_mid_request_keeps_the_paid_for_transcript() -> None:
    # The server kills the limiter actor while it holds the request, then answers 200: the
    # permit cannot go back, and the transcript is still the row's.
    killed = threading.Event()

    def kill_then_answer(request: Recorded) -> Answer:
        if not killed.is_set():
            ray.kill(ray.get_actor("dies-mid-request"), no_restart=True)
            killed.set()
        return echo_upload(request)

    with ScriptedServer(kill_then_answer) as server:
        rows = _run(
            server,
            _items(1, "paid"),
            rate_limit=RateLimit(max_in_flight=4, name="dies-mid-request"),
            concurrency=1,
        )
        sent = len(server.requests)
    assert killed.is_set()
    assert sent == 1
    assert [(r["error"], r["text"]) for r in rows] == [(None, "paid0.wav")]
