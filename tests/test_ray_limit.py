"""The limiter behind transcribe_sdk.ray.RateLimit, driven directly (no cluster needed): its
methods are plain coroutines that a Ray async actor runs. Only lower time bounds are asserted."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import anyio
import pytest

pytest.importorskip("ray")

from conftest import API_KEY
from internals import Limiter as _Limiter
from internals import WorkerSettings as Settings
from internals import params_digest, row_key

from transcribe_sdk import InvalidInputError
from transcribe_sdk.ray import RateLimit, done_keys

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")]


async def test_a_full_cap_waits_for_a_release() -> None:
    limiter = _Limiter(1, None, 60.0)
    first = await limiter.acquire()
    got: list[int] = []

    async def second() -> None:
        got.append(await limiter.acquire())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(second)
            await anyio.sleep(0.2)
            assert got == []  # still waiting: the only permit is out
            await limiter.release(first)
    assert len(got) == 1
    assert limiter.stats() == {"started": 2, "paused": 0, "in_flight": 1}


async def test_requests_per_minute_spaces_starts() -> None:
    limiter = _Limiter(None, 600, 60.0)  # one each 0.1 s
    started = time.monotonic()
    with anyio.fail_after(10):
        for _ in range(4):
            await limiter.release(await limiter.acquire())
    assert time.monotonic() - started >= 0.3 - 0.01


async def test_a_pause_holds_every_caller() -> None:
    limiter = _Limiter(None, None, 60.0)
    await limiter.pause(0.5)
    await limiter.pause(0.1)  # a shorter pause does not shorten the longer one
    started = time.monotonic()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(limiter.acquire)
    assert time.monotonic() - started >= 0.5 - 0.01
    assert limiter.stats()["paused"] == 2


async def test_a_lease_never_released_is_taken_back() -> None:
    limiter = _Limiter(1, None, 0.3)
    await limiter.acquire()  # its worker "dies" without releasing
    started = time.monotonic()
    with anyio.fail_after(10):
        token = await limiter.acquire()
    assert time.monotonic() - started >= 0.3 - 0.01
    await limiter.release(token)
    await limiter.release(token)  # twice, or an unknown token: ignored
    assert limiter.stats()["in_flight"] == 0


async def test_new_settings_apply_to_the_next_acquire() -> None:
    limiter = _Limiter(1, None, 60.0)
    held = await limiter.acquire()
    limiter.configure(2, None, 60.0)
    with anyio.fail_after(10):
        second = await limiter.acquire()  # the raised cap lets it through at once
    assert limiter.settings() == (2, None, 60.0)
    await limiter.release(held)
    await limiter.release(second)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_in_flight": True}, "max_in_flight"),
        ({"requests_per_minute": 1.5}, "requests_per_minute"),
        ({"name": " "}, "name"),
        ({"lease_seconds": 0}, "lease_seconds"),
    ],
)
def test_rate_limit_checks_its_settings(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RateLimit(**kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_keys_join_content_and_request() -> None:
    a = params_digest([("model", "m"), ("language", "en")], "json")
    b = params_digest([("model", "m"), ("language", "fr")], "json")
    assert a != b
    assert a == params_digest([("model", "m"), ("language", "en")], "json")
    assert params_digest([("model", "m")], "json") != params_digest([("model", "m")], "text")
    assert row_key(b"audio", a) != row_key(b"audio", b)
    assert row_key(b"audio", a) != row_key(b"other", a)


def test_done_keys_of_a_folder_not_written_yet_is_empty(tmp_path: object) -> None:
    assert done_keys(str(tmp_path) + "/nothing-here") == frozenset()


def test_the_core_and_the_command_never_import_ray() -> None:
    # Integrations are leaves: the package and its command load without Ray.
    code = (
        "import sys, transcribe_sdk, transcribe_sdk.cli._main, transcribe_sdk.cli._ray\n"
        "assert not any(m == 'ray' or m.startswith('ray.') for m in sys.modules), 'ray loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_actor_settings_do_not_show_the_key() -> None:
    settings = Settings(model="m", response_format=None, options={}, params_digest="d")
    settings = replace(settings, api_key=API_KEY)
    assert API_KEY not in repr(settings)
