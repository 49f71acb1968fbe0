"""A real redis-server on a free loopback port, started and stopped by the tests that need it.

``redis-server`` comes from Debian (the Makefile's system-deps target installs it). The server keeps
nothing on disk (``--save '' --appendonly no``) unless ``durable=True``, which turns on the append-only
file with an fsync per write, so a SIGKILLed server restarts with what it had acknowledged.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from conftest import free_port

PASSWORD = "s3cret-redis-pw-4f2a"     # test-only; the tests check it never shows up in errors or logs
_READY_WITHIN = 20.0                  # seconds a fresh server may take to answer PING


class RedisServer:
    def __init__(self, folder: Path, password: str | None = None, durable: bool = False):
        self.folder, self.password, self.durable = folder, password, durable
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def _command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not found: install it with `make system-deps` "
                        "(or apt-get install redis-server)", pytrace=False)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                   "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        return command + (["--requirepass", self.password] if self.password else [])

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True)

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "redis.log", "ab")
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + _READY_WITHIN
        with self.client() as probe:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(f"redis-server exited: {(self.folder / 'redis.log').read_text()[-2000:]}")
                try:
                    probe.ping()
                    return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.kill()
                        pytest.fail(f"redis-server on port {self.port} did not answer PING")
                    time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, mid-whatever it was doing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _running(folder: Path, password: str | None = None):
    server = RedisServer(folder, password).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path):
    yield from _running(tmp_path / "redis")


@pytest.fixture
def redis_server_with_password(tmp_path):
    yield from _running(tmp_path / "redis-auth", PASSWORD)
