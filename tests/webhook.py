"""A local webhook receiver for alert tests: a real HTTP server on 127.0.0.1."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guap_pipeline.alerts.delivery import WEBHOOK_ENV


class Hook:
    """A local HTTP server standing in for Slack: records bodies, can fail or hang."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay)
                hook.bodies.append(json.loads(body))
                try:
                    self.send_response(hook.status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except BrokenPipeError:  # the client gave up waiting (hang test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T0SECRET/B0SECRET"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def receiving(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    """A running :class:`Hook` whose URL is in the webhook environment variable."""
    server = Hook()
    monkeypatch.setenv(WEBHOOK_ENV, server.url)
    try:
        yield server
    finally:
        server.server.shutdown()
