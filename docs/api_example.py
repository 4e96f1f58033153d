"""Submit a job through the dashboard's API, wait for it, and print its output: httpx and a token, nothing else.

    export DASHBOARD_URL=http://127.0.0.1:8000 DASHBOARD_TOKEN=rpd_...
    python docs/api_example.py ENDPOINT_ID '{"prompt": "hi"}'

Make the token on the dashboard's "API" page (an Operator's token: submitting is an action). The script sends an
Idempotency-Key, so if the POST times out it can be sent again without making a second job.
"""

import json
import os
import sys
import time
import uuid

import httpx

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT", "SUBMIT_FAILED"}


def submit(client: httpx.Client, endpoint_id: int, job_input: dict) -> dict:
    """POST /jobs, retried on timeouts and 429s with the same Idempotency-Key: one job whatever happens."""
    key = str(uuid.uuid4())
    for attempt in range(5):
        try:
            response = client.post(
                "/api/v1/jobs", json={"endpoint": endpoint_id, "input": job_input}, headers={"Idempotency-Key": key}
            )
        except httpx.TimeoutException:
            time.sleep(2**attempt)
            continue
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", 1)))
            continue
        if response.status_code >= 400:
            sys.exit(f"Refused ({response.status_code}): {response.json()['message']}")
        return response.json()
    sys.exit("The dashboard did not answer; nothing more was sent.")


def wait(client: httpx.Client, job_id: int, timeout: float) -> dict:
    """Read the job until it is final and archived (its output stored), or until the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in FINAL and (job["archived"] or job["status"] == "SUBMIT_FAILED"):
            return job
        time.sleep(1)
    sys.exit(f"Job {job_id} is not finished after {timeout:.0f} s.")


def main() -> None:
    endpoint_id, job_input = int(sys.argv[1]), json.loads(sys.argv[2])
    base = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000")
    headers = {"Authorization": f"Bearer {os.environ['DASHBOARD_TOKEN']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        job = submit(client, endpoint_id, job_input)
        print(f"Submitted job {job['id']}", file=sys.stderr)
        job = wait(client, job["id"], float(os.environ.get("WAIT_SECONDS", 600)))
    print(f"{job['status']} (RunPod id {job['runpod_id']})", file=sys.stderr)
    print(json.dumps(job["output"] if job["status"] == "COMPLETED" else job["error"]))
    sys.exit(0 if job["status"] == "COMPLETED" else 1)


if __name__ == "__main__":
    main()
