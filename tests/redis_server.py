"""A private redis-server for the tests that need one: started on a free port, stopped after.

`make test` starts one for the whole run (scripts/with_redis.py) and passes its URL
in `MCP_TEST_REDIS_URL`; a pytest started any other way starts its own the first
time a test asks for it. Never the machine's shared Redis on 6379: a test may flush.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.toolkit import until_sync

REDIS_URL_ENV = "MCP_TEST_REDIS_URL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis(port: int | None = None) -> Iterator[str]:
    """A redis-server of our own (nothing kept on disk); its URL while the block runs.

    `port`: a given one (a Redis that comes back where it was), else a free one.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="mcp-redis-"))
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, *options, "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until_sync(lambda: _answers(port) or proc.poll() is not None)
        if proc.poll() is not None:
            log = (workdir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server did not start: {log}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def run_redis_url() -> Iterator[str]:
    """The run's Redis: the one `make test` started, else a private one for this session."""
    given = os.environ.get(REDIS_URL_ENV)
    if given:
        yield given
        return
    with private_redis() as url:
        yield url
