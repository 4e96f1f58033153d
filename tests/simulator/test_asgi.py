"""The simulator also works as a plain ASGI app inside a test, without a server or a port."""

import asyncio

import httpx

from simulator.app import create_app


def test_create_app_serves_runpod_operations_in_process():
    """create_app(config) answers /runsync and /health through httpx's ASGI transport."""
    app = create_app({"latency_ms": 0, "seed": 3, "endpoints": [{"id": "inproc", "cold_start": 0}]})

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer k"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sim/v2", headers=headers) as http:
            done = (await http.post("/inproc/runsync", json={"input": {"simulate": {"seconds": 0.01}}})).json()
            health = (await http.get("/inproc/health")).json()
        await app.sim.engine.stop()
        return done, health

    done, health = asyncio.run(scenario())
    assert done["status"] == "COMPLETED"
    assert done["id"].startswith("sync-")
    assert health["jobs"]["completed"] == 1
