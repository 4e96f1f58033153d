"""Servers the reliability tests run beside the app: a simulator that logs every request, a RunPod stand-in that
answers whatever a test scripts (byte for byte), a private Redis that can be killed, and a separate beat."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
import uvicorn

from dashboard.celery import app as celery_app
from scripts.ports import free_port
from simulator.testing import SimulatorServer
from tests.celery_worker import ROOT, CeleryWorker
from tests.utils import wait_for

# --- A simulator that logs every RunPod request --------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    endpoint: str
    operation: str
    job_id: str
    start: float
    end: float
    status: int | None  # None: the connection was dropped without an answer


class RequestLog:
    """ASGI wrapper around the simulator app recording each /v2 request with its start and end times."""

    def __init__(self, app):
        self.app = app
        self.sim = app.sim
        self.entries: list[Request] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            return await self.app(scope, receive, send)
        parts = scope["path"].split("/", 4)
        status = None

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.time()
        try:
            return await self.app(scope, receive, recording_send)
        finally:
            operation, job_id = [*parts, "", ""][3:5]
            self.entries.append(Request(parts[2], operation, job_id, start, time.time(), status))

    def for_endpoint(self, endpoint_id) -> list[Request]:
        return [entry for entry in list(self.entries) if entry.endpoint == endpoint_id]


class RecordingSimulator(SimulatorServer):
    """The simulator with a RequestLog in front: `.log.entries` holds every /v2 request it answered."""

    def __init__(self, **config):
        super().__init__(**config)
        self.log = RequestLog(self.app)
        self.app = self.log


class SimulatorProcess:
    """`manage.py runpod_simulator` in a process of its own, for runs big enough to want their own core; the same
    control methods as SimulatorServer."""

    _control = SimulatorServer._control
    configure = SimulatorServer.configure
    stats = SimulatorServer.stats
    add_endpoint = SimulatorServer.add_endpoint

    def __init__(self, *options):
        self.port = free_port()
        self.options = options
        self.proc = None

    base_url = property(lambda self: f"http://127.0.0.1:{self.port}/v2")
    control_url = property(lambda self: f"http://127.0.0.1:{self.port}/_sim")

    def __enter__(self):
        command = [sys.executable, "manage.py", "runpod_simulator", "--port", str(self.port), *self.options]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        wait_for(self._answers, timeout=30, interval=0.1, message="the simulator process to answer")
        return self

    def _answers(self):
        try:
            return bool(self.stats())
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(20)


# --- A RunPod stand-in with scripted answers -----------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: tuple = (("content-type", "application/json"),)


def json_answer(data, status=200, **dumps) -> Answer:
    return Answer(status=status, body=json.dumps(data, **dumps).encode())


@dataclass
class Seen:
    method: str
    operation: str
    job_id: str  # decoded from the raw path, exactly as the client encoded it
    raw_path: str
    headers: dict
    body: bytes


@dataclass
class HostileRunPod:
    """Answers /v2/{endpoint}/{operation}[/{job id}] from `script`: (operation, job id) or (operation, None).

    An answer is an Answer, or a callable taking the Seen request and returning one.
    """

    script: dict = field(default_factory=dict)
    seen: list = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def on(self, operation, job_id=None, answer: Answer | Callable | None = None) -> None:
        self.script[(operation, job_id)] = answer

    def requests(self, operation) -> list[Seen]:
        return [seen for seen in self.seen if seen.operation == operation]

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw = scope["raw_path"].decode("latin-1").split("?")[0]
        parts = raw.split("/", 4)
        operation = parts[3] if len(parts) > 3 else ""
        job_id = unquote(parts[4]) if len(parts) > 4 else None
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"]}
        seen = Seen(scope["method"], operation, job_id or "", raw, headers, body)
        self.seen.append(seen)
        answer = self.script.get((operation, job_id), self.script.get((operation, None)))
        if callable(answer):
            answer = answer(seen)
        answer = answer or json_answer({"error": "request does not exist"}, 404)
        head = [(k.encode(), v.encode()) for k, v in answer.headers]
        head.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": head})
        await send({"type": "http.response.body", "body": answer.body})

    @contextlib.contextmanager
    def running(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self, log_level="warning", access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        wait_for(lambda: server.started, timeout=10, interval=0.01, message="the hostile server to start")
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- A private Redis, and the test process's Celery app pointed at it ----------------------------------------


class PrivateRedis:
    """A redis-server of our own on a free port, so killing it disturbs nobody else's tests."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rel-redis-")
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*command, "--dir", self.dir], stdout=subprocess.DEVNULL)
        wait_for(self.answers, timeout=10, interval=0.05, message="the private redis-server to answer")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL: everything in it (queued tasks included) is gone, as after a crash without persistence."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def celery_broker(url):
    """Point this process's Celery app (the one job_submit publishes with) at another broker for a while."""
    old = celery_app.conf.broker_url
    _switch_broker(url)
    try:
        yield
    finally:
        _switch_broker(old)


def _switch_broker(url):
    # Forget the pools rather than close them: kombu keeps one registry per URL, and a closed pool in it would
    # be handed out again when switching back.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url


class BeatProcess(CeleryWorker):
    """`celery beat` alone in a subprocess, publishing to a worker's queue, so it can be killed on its own."""

    def start(self):
        celery_app.conf.task_default_queue = self.queue
        command = ["-m", "celery", "-A", "dashboard", "beat", "-l", "info"]
        command += ["--scheduler", "celery.beat:PersistentScheduler", "-s", f"{self.workdir}/beat-schedule"]
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=self.environment(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self


def broker_env(url) -> dict:
    """Environment for a worker or beat that should use this broker (the worker's own default is REDIS_URL)."""
    return {"REDIS_URL": url, "CELERY_BROKER_URL": url}
