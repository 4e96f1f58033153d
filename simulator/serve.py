"""Serving the simulator with uvicorn, shared by the management command and `SimulatorServer`."""

from __future__ import annotations

import uvicorn

from simulator.app import SimulatorApp


def uvicorn_config(
    app: SimulatorApp, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> uvicorn.Config:
    """The uvicorn settings for the simulator: the fast loop and parser, no access log, deep backlog."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,  # requests hung on purpose (timeout_rate) must not hold up a stop
        ws="none",
        proxy_headers=False,
    )
