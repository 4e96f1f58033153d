"""Helpers for the simulator tests: submit jobs and poll for conditions with a deadline (never a bare sleep)."""

from tests import utils


def wait_for(predicate, *, timeout=5.0, interval=0.01, message="condition"):
    """tests.utils.wait_for with the simulator's short defaults."""
    return utils.wait_for(predicate, timeout=timeout, interval=interval, message=message)


def submit(client, simulate=None, endpoint="ep", **body):
    """POSTs /run and returns the new job's id."""
    job_input = {"prompt": "hello"} if simulate is None else {"prompt": "hello", "simulate": simulate}
    response = client.post(f"/{endpoint}/run", json={"input": job_input, **body})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def status(client, job_id, endpoint="ep"):
    response = client.get(f"/{endpoint}/status/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(client, job_id, wanted, endpoint="ep", timeout=5.0):
    """Polls /status until the job is in one of the wanted states; returns the status object."""
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    return wait_for(
        lambda: (s := status(client, job_id, endpoint))["status"] in wanted and s,
        timeout=timeout,
        message=f"{job_id} to reach {wanted}",
    )


def wait_gone(client, job_id, endpoint="ep", timeout=5.0):
    """Polls /status until it answers 404."""
    wait_for(
        lambda: client.get(f"/{endpoint}/status/{job_id}").status_code == 404,
        timeout=timeout,
        message=f"{job_id} to expire",
    )
