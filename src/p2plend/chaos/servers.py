"""The platform as ``p2plend serve`` runs it, but one uvicorn process per loopback port, so
that the harness can kill any one with SIGKILL and start it again on the same port.

Clients pick a port the harness believes alive; a refused connection marks it down until it
answers again (the client simply tries another meanwhile).
"""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

STARTUP_SECONDS = 60.0


class Servers:
    """``count`` single-worker server processes on ``database_url``."""

    def __init__(self, database_url: str, count: int, *, logs: Path | None = None) -> None:
        self._env = {
            **os.environ,
            "P2PLEND_DATABASE_URL": database_url,
            "P2PLEND_EOD_SCHEDULER_ENABLED": "false",  # the harness runs the batch itself
            "P2PLEND_LOG_JSON": "true",
            "PYTHONFAULTHANDLER": "1",  # SIGABRT (see ``abort``) writes every thread's stack to the log
        }
        self._logs = logs
        self.ports = [_free_port() for _ in range(count)]
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._down: set[int] = set(range(count))  # not to be picked: killed, starting, refusing
        self._busy: set[int] = set()  # being killed or restarted by someone
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start_all(self) -> None:
        for index in range(len(self.ports)):
            self._spawn(index)
        for index in range(len(self.ports)):
            self._wait_until_up(index)

    def stop_all(self) -> None:
        for process in self._processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self._processes:
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def pick(self, rng: random.Random) -> str:
        """A server believed up (any server when none is: the caller's retry will wait)."""
        with self._lock:
            up = [i for i in range(len(self.ports)) if i not in self._down]
        return self.urls[rng.choice(up or list(range(len(self.ports))))]

    def mark_down(self, url: str) -> None:
        with self._lock:
            self._down.add(self.urls.index(url))

    def serving(self) -> list[int]:
        """The servers believed up, that nobody is killing or restarting."""
        with self._lock:
            return [i for i in range(len(self.ports)) if i not in self._down | self._busy]

    def missing(self) -> list[int]:
        """The servers whose process is not running, that nobody is restarting."""
        with self._lock:
            idle = [i for i in range(len(self.ports)) if i not in self._busy]
        return [i for i in idle if not self._alive(i)]

    def revive(self) -> None:
        """Servers marked down by a refused connection that answer again are picked again."""
        with self._lock:
            suspects = [i for i in self._down - self._busy if self._alive(i)]
        for index in suspects:
            if self._answers(index, timeout=2):
                with self._lock:
                    self._down.discard(index)

    def unresponsive(self, timeout: float) -> list[int]:
        """The servers believed up whose ``/healthz`` has no answer within ``timeout`` seconds
        (a refused connection is a kill in progress, not this): the endpoint runs in a worker
        thread and answers through the event loop, so a server stuck on either never answers."""
        stuck = []
        for index in self.serving():
            try:
                httpx.get(f"{self.urls[index]}/healthz", timeout=timeout)
            except httpx.TimeoutException:
                stuck.append(index)
            except httpx.HTTPError:
                pass
        return stuck

    def kill(self, index: int) -> bool:
        """SIGKILL: no shutdown hook, no answer to requests in flight, open transactions left
        for PostgreSQL to roll back when it notices the connection gone. ``restart`` next."""
        return self._stop(index, signal.SIGKILL)

    def abort(self, index: int) -> bool:
        """SIGABRT: a stuck server writes every thread's stack to its log, then dies."""
        return self._stop(index, signal.SIGABRT)

    def restart(self, index: int) -> None:
        try:
            self._spawn(index)
            self._wait_until_up(index)
        finally:
            with self._lock:
                self._busy.discard(index)

    def _stop(self, index: int, signum: int) -> bool:
        """Stop a server nobody else is handling; False when someone is, or it is not running."""
        with self._lock:
            if index in self._busy or not self._alive(index):
                return False
            self._busy.add(index)
            self._down.add(index)
        process = self._processes[index]
        assert process is not None
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return True

    def _alive(self, index: int) -> bool:
        process = self._processes[index]
        return process is not None and process.poll() is None

    def _answers(self, index: int, timeout: float) -> bool:
        try:
            return httpx.get(f"{self.urls[index]}/healthz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_until_up(self, index: int) -> None:
        process = self._processes[index]
        assert process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server {index} exited with {process.returncode} before it served")
            if self._answers(index, timeout=2):
                with self._lock:
                    self._down.discard(index)
                return
            time.sleep(0.1)
        raise RuntimeError(f"server {index} did not answer /healthz within {STARTUP_SECONDS:.0f} s")

    def _spawn(self, index: int) -> None:
        command = [sys.executable, "-m", "uvicorn", "p2plend.server:serve_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.ports[index]), "--log-level", "warning"]
        if self._logs is None:
            self._processes[index] = subprocess.Popen(  # noqa: S603 — our own interpreter and module
                command, env=self._env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            return
        with (self._logs / f"server-{index}.log").open("ab") as log:
            self._processes[index] = subprocess.Popen(  # noqa: S603 — our own interpreter and module
                command, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
