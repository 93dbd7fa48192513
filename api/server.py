"""Running the app with uvicorn: in the foreground (``wangge serve``) or in a thread (tests,
benchmarks) on a loopback port.

uvicorn's own access log stays off (``access_log=False``): the app writes one JSON line per
request itself, with its request id and hashed key (:mod:`api.observability`)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerThread:
    """A uvicorn server running ``app`` in a daemon thread; ``stop()`` shuts it down."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        """Ask the server to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(
    app: FastAPI, *, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 20.0
) -> ServerThread:
    """Start ``app`` on ``host:port`` (a free port by default) and wait until it listens.

    Raises
    ------
    RuntimeError
        When the server does not start within ``timeout_s``.
    """
    port = port or free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            msg = f"uvicorn did not start on {host}:{port}"
            raise RuntimeError(msg)
        time.sleep(0.02)
    return ServerThread(server, thread, f"http://{host}:{port}")
