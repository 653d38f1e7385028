"""Everything ``transcribe-sdk serve`` can be told, with its default: :class:`ServerSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..local._batched import DEFAULT_BATCH_SIZE

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """The server's bounds and choices; each field is a ``serve`` flag of the same name."""

    model: str | None = None
    """The model every request gets (a faster-whisper name or folder); ``None``: ``tiny.en``,
    the bundled one. Loaded at start-up: a model that does not load stops the server there."""
    api_key: str | None = field(default=None, repr=False)
    """The bearer key clients must send; ``None``: no auth."""
    max_upload_bytes: int = 512 * MiB
    """The largest request body. A bigger ``Content-Length`` is a 413 before the body is read;
    a chunked body gets its 413 as soon as it passes the bound."""
    max_audio_seconds: float = 3600.0
    """The longest audio transcribed (checked from the container's header before decoding and
    enforced while decoding). An hour of audio is 230 MB of samples while it is transcribed."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Voice-active windows of one request the model decodes together (1: sequential
    decoding, each 30 s prompted with the text before it). Each unit costs about 60 MB with
    ``tiny.en`` (``transcribe_sdk.local._batched.BATCH_UNIT_MB``), for each of the
    ``concurrency`` slots; docs/performance.md has the speed and the word error rate at each
    size."""
    concurrency: int = 2
    """Transcriptions running at once (also the model's worker count)."""
    cpu_threads: int = 0
    """Threads each transcription slot decodes with; 0 leaves it to CTranslate2 (its own
    default, 2 a slot on a 2-core machine, or ``OMP_NUM_THREADS``). On a machine of its own,
    the cores divided by ``concurrency`` avoids more threads than cores; docs/performance.md
    has what that measured on a shared 2-core machine."""
    queue_timeout: float = 10.0
    """How long a request waits for a free transcription slot before its 503 (with
    ``Retry-After``)."""
    retry_after: int = 5
    """Seconds a 503 asks the client to wait (``Retry-After``)."""
    max_connections: int = 1000
    """Open connections (idle, sending a head, uploading or waiting for an answer) before
    uvicorn answers 503 to a new request. Connections are cheap (an idle one holds at most
    ``max_header_bytes`` of buffer); the work that costs is bounded by ``concurrency``, taken
    only after the key is checked and the body has arrived. The process must be allowed that
    many file descriptors (``ulimit -n``); ``serve`` raises its soft limit when it can."""
    body_timeout: float = 30.0
    """Seconds a client may leave between two pieces of its body before a 408."""
    body_total_timeout: float = 600.0
    """Seconds a whole body may take to arrive, however steadily it drips, before a 408
    (600 s carries the default 512 MiB at under 1 MiB/s)."""
    header_timeout: float = 10.0
    """Seconds a keep-alive connection may sit idle after an answer before it is closed
    (uvicorn's ``timeout_keep_alive``, rounded up to whole seconds). Despite the name it does
    not bound the time to send a request head: uvicorn has no setting for that, see the
    reverse-proxy advice in docs/server.md."""
    max_header_bytes: int = 16 * 1024
    """The largest request head (request line plus headers)."""
    shutdown_timeout: float = 5.0
    """On SIGINT/SIGTERM, seconds in-flight requests get to finish; then they are cancelled
    (at the model's next segment) and answered with a 503."""
