"""The only code that speaks HTTP to RunPod Serverless endpoints. It imports no models.

    from jobs import runpod
    with runpod.RunPodClient("endpoint-id", api_key) as client:
        state = client.run({"prompt": "hi"})            # JobState: id, status, output, ...
        state = client.status(state.id)

    http = runpod.make_async_http()                      # one pool per event loop, shared by endpoints
    client = runpod.AsyncRunPodClient("endpoint-id", api_key, http=http, max_retries=0)
    batch = await client.stream(job_id, wait_ms=1000)   # StreamBatch: status, chunks

Modules: calls (building requests, sizes), results (typed answers), errors (the hierarchy and its mapping),
retry (when to resend), limiter (requests per 10 s and at once), transport (the pools), client (the clients).
"""

from .calls import (
    DEFAULT_BASE_URL,
    IDEMPOTENT_OPERATIONS,
    RUN_MAX_BYTES,
    RUNSYNC_MAX_BYTES,
    encode_body,
    payload_size,
    submit_body,
)
from .client import AsyncRunPodClient, RunPodClient
from .errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RunPodError,
    TransientError,
    parse_retry_after,
)
from .limiter import (
    DEFAULT_LIMITS,
    OPERATION_BUCKETS,
    Limit,
    RateLimiter,
    default_limiter,
    endpoint_key,
    set_default_limiter,
)
from .results import (
    FINAL_STATES,
    RUNNING_STATES,
    UNKNOWN_STATUS,
    Health,
    JobState,
    PurgeResult,
    StreamBatch,
)
from .retry import RetryPolicy
from .transport import make_async_http, make_http

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "FINAL_STATES",
    "IDEMPOTENT_OPERATIONS",
    "OPERATION_BUCKETS",
    "RUNNING_STATES",
    "RUNSYNC_MAX_BYTES",
    "RUN_MAX_BYTES",
    "UNKNOWN_STATUS",
    "AsyncRunPodClient",
    "AuthError",
    "BadRequestError",
    "BadResponseError",
    "Health",
    "JobState",
    "Limit",
    "NotFoundError",
    "PayloadTooLargeError",
    "PurgeResult",
    "RateLimitedError",
    "RateLimiter",
    "RetryPolicy",
    "RunPodClient",
    "RunPodError",
    "StreamBatch",
    "TransientError",
    "default_limiter",
    "encode_body",
    "endpoint_key",
    "make_async_http",
    "make_http",
    "parse_retry_after",
    "payload_size",
    "set_default_limiter",
    "submit_body",
]
