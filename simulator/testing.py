"""Run the simulator in a background thread for tests: `with SimulatorServer(time_scale=60) as sim: ...`."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from simulator.app import create_app
from simulator.serve import uvicorn_config

START_TIMEOUT = 10.0


class SimulatorServer:
    """The simulator on a free 127.0.0.1 port, served by uvicorn in a daemon thread.

    Settings are those of `SimulatorConfig`, with `latency_ms` 0 unless given, so unit tests run fast.
    """

    def __init__(self, **config: Any):
        config.setdefault("latency_ms", 0)
        self.app = create_app(config)
        self.sim = self.app.sim
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v2"

    @property
    def control_url(self) -> str:
        return f"{self.url}/_sim"

    def start(self) -> SimulatorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app, port=self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"simulator-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(START_TIMEOUT)
            self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        response = httpx.request(method, f"{self.control_url}/{path}", json=payload, timeout=10, trust_env=False)
        response.raise_for_status()
        return response.json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Changes run-time settings (time_scale, latency_ms, faults, rate limits); returns the whole config."""
        return self._control("POST", "config", changes)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def add_endpoint(self, endpoint_id: str, **settings: Any) -> dict[str, Any]:
        """Adds an endpoint, or changes the given settings of an existing one."""
        return self._control("POST", "endpoints", {"id": endpoint_id, **settings})

    def reset(self) -> None:
        self._control("POST", "reset")

    def webhook_url(self, name: str) -> str:
        """A URL on this simulator that records the webhooks POSTed to it (see `webhooks(name)`)."""
        return f"{self.control_url}/webhooks/{name}"

    def webhooks(self, name: str) -> list[dict[str, Any]]:
        return self._control("GET", f"webhooks/{name}")
