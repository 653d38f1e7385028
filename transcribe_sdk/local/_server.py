"""``transcribe-sdk serve``: the local engine as a real OpenAI-compatible HTTP server.

Other clients (curl, openai-python, another language's SDK) can then use it::

    transcribe-sdk serve --port 8000
    curl -F file=@hello.wav -F model=tiny.en http://127.0.0.1:8000/v1/audio/transcriptions

It listens on 127.0.0.1 unless told otherwise, and requires a bearer key only when one is set
with ``--api-key`` or ``TRANSCRIBE_SERVER_API_KEY``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from ._app import LocalApp, Reply
from ._engine import DEFAULT_MODEL, shared_engine

MAX_BODY = 512 * 1024 * 1024


def _error_reply(status: int, message: str) -> Reply:
    payload = {
        "error": {
            "message": message,
            "type": "invalid_request_error" if status < 500 else "server_error",
            "param": None,
            "code": str(status),
        }
    }
    return Reply(status, "application/json", json.dumps(payload).encode())


class _BadLength(ValueError):
    """A Content-Length that is not a number of bytes."""


class _Handler(BaseHTTPRequestHandler):
    app: ClassVar[LocalApp]
    api_key: ClassVar[str | None] = None
    protocol_version = "HTTP/1.1"
    server_version = "transcribe-sdk-local"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body in pieces of at most 64 KiB, Content-Length or chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                while size > 0:
                    piece = self.rfile.read(min(size, 65536))
                    if not piece:
                        return
                    size -= len(piece)
                    yield piece
                self.rfile.readline()
        raw = self.headers.get("Content-Length") or "0"
        if not raw.strip().isdigit():
            raise _BadLength(f"Content-Length must be a number of bytes, not {raw!r}")
        left = int(raw)
        if left > MAX_BODY:
            raise ValueError("body too large")
        while left > 0:
            piece = self.rfile.read(min(left, 65536))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _authorised(self) -> bool:
        if not self.api_key:
            return True
        sent = self.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {self.api_key}".encode())

    def _dispatch(self, method: str) -> None:
        authorised = self._authorised()
        try:
            # Without the key the body is read and dropped, never kept: the client can then
            # read the 401 instead of a reset connection.
            chunks = self._body_chunks() if method == "POST" else iter(())
            body = b"".join(chunks) if authorised else b""
            if not authorised:
                for _ in chunks:
                    pass
        except _BadLength as exc:
            self.close_connection = True
            self._send(_error_reply(400, str(exc)))
            return
        except ValueError:
            self.close_connection = True
            self._send(_error_reply(413, f"the body is larger than {MAX_BODY} bytes"))
            return
        if not authorised:
            self._send(_error_reply(401, "missing or wrong bearer key"))
            return
        try:
            reply = self.app.handle(method, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # a bug or a broken install: answer 500, do not drop the line
            self.log_error("%s %s failed: %r", method, self.path, exc)
            reply = _error_reply(500, f"the local engine failed: {type(exc).__name__}: {exc}")
        self._send(reply)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")


def make_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    model: str | None = None,
    api_key: str | None = None,
) -> ThreadingHTTPServer:
    """A server ready for ``serve_forever()`` (port 0 picks a free port: see
    ``server.server_address``)."""
    handler = type(
        "Handler",
        (_Handler,),
        {"app": LocalApp(shared_engine(model), honour_model_field=False), "api_key": api_key},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="transcribe-sdk",
        description="Tools of transcribe-sdk. 'serve' runs the local Whisper engine as an "
        "OpenAI-compatible HTTP server (POST /v1/audio/transcriptions).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the local engine over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    serve.add_argument(
        "--model",
        default=None,
        help=f"default model: a faster-whisper name or folder (default {DEFAULT_MODEL})",
    )
    serve.add_argument(
        "--api-key",
        default=os.environ.get("TRANSCRIBE_SERVER_API_KEY"),
        help="require this bearer key (default: $TRANSCRIBE_SERVER_API_KEY, or none)",
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, model=args.model, api_key=args.api_key)
    host, port = server.server_address[:2]
    print(f"transcribe-sdk local engine on http://{host!s}:{port}/v1 (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
