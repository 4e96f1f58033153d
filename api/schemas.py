"""What the API reads and returns. Field names follow the pages' words; times are ISO 8601 in UTC."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema


class Error(Schema):
    code: str = Field(description="A word for programs: invalid, unauthenticated, forbidden, not_found, ...")
    message: str = Field(description="A sentence for people.")
    field: str | None = Field(None, description="The request field at fault, when there is one.")


# Every route can answer these: no or a bad token, a parameter out of its type or range, the per-token rate limit.
COMMON_ERRORS = {401: Error, 422: Error, 429: Error}
# And every route with a JSON body: unparsable (400) or over the server's size limit (413).
BODY_ERRORS = {400: Error, 413: Error}


class EndpointRef(Schema):
    id: int
    name: str


class Percentiles(Schema):
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class LastHour(Schema):
    completed: int
    failed: int
    cancelled: int
    delay_ms: Percentiles
    execution_ms: Percentiles


class Health(Schema):
    taken_at: datetime
    jobs_completed: int
    jobs_failed: int
    jobs_in_progress: int
    jobs_in_queue: int
    jobs_retried: int
    workers_idle: int
    workers_initializing: int
    workers_ready: int
    workers_running: int
    workers_throttled: int
    workers_unhealthy: int


class Warning(Schema):
    level: Literal["error", "warn", "muted"]
    message: str


class EndpointOut(Schema):
    id: int
    name: str
    runpod_id: str
    enabled: bool
    state: Literal["ok", "warn", "error"] = Field(description="The worst warning, or ok.")
    warnings: list[Warning]
    health: Health | None = Field(description="The newest /health snapshot.")
    last_hour: LastHour = Field(description="Jobs that finished in the last hour.")
    last_poll_at: datetime | None
    price_per_second_usd: str | None = Field(
        description="What a second of GPU time costs on this endpoint, as set by an admin (a decimal string); "
        "null: no price set, so its jobs have no cost."
    )


class HealthBucket(Schema):
    start: datetime
    values: dict[str, float] | None = Field(
        description="Largest queue and average workers in the bucket; null: no data."
    )


class HealthSeries(Schema):
    endpoint: EndpointRef
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[HealthBucket]


class JobRow(Schema):
    id: int
    runpod_id: str | None
    endpoint: EndpointRef
    status: str
    mode: Literal["run", "runsync"]
    streaming: bool
    tracked: bool
    created_at: datetime
    finished_at: datetime | None
    delay_ms: int | None
    execution_ms: int | None
    submitted_by: str | None
    expired: bool
    not_found: bool
    cost_usd: str | None = Field(
        description="Estimated cost in US dollars (a decimal string, exact): RunPod's executionTime x the endpoint's "
        "price per second. Leaves out idle and cold-start time, which RunPod also bills. null: no price is set, or "
        "RunPod reported no execution time."
    )
    cost_so_far: bool = Field(
        description="The job is still running: cost_usd is the time since it started x the price, and growing."
    )


class JobPage(Schema):
    jobs: list[JobRow]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end.")
    search: Literal["id", "text", ""] = Field(
        description="How q was read: an exact job id, text in inputs, outputs and errors, or unused."
    )
    scanned_to: datetime | None = Field(
        None, description="A text search reads a bounded window per page; where this page's window ended."
    )


class Transition(Schema):
    from_status: str
    to_status: str
    at: datetime
    source: str


class JobDetail(JobRow):
    input: Any = None
    output: Any = None
    has_output: bool
    progress: Any = None
    error: Any = Field(None, description="RunPod's error, parsed when it is JSON.")
    submit_error: str
    webhook: str
    policy: dict[str, Any] | None
    worker_id: str
    retries: int
    submitted_at: datetime | None
    started_at: datetime | None
    archived: bool
    archived_at: datetime | None
    expires_at: datetime | None
    stream_chunks: int = Field(description="Stream chunks stored; read them from /jobs/{id}/chunks.")
    transitions: list[Transition]
    parent_id: int | None = Field(
        None, description="The job this one is a new attempt of (edit and run, run again); null for a first one."
    )


class Chunk(Schema):
    seq: int
    output: Any = None
    received_at: datetime


class ChunkPage(Schema):
    chunks: list[Chunk]
    next_after: int | None = Field(description="Pass as ?after= for the next page; null when none is stored yet.")


class AuditOut(Schema):
    id: int
    at: datetime
    username: str
    action: str
    outcome: Literal["ok", "error", "denied"]
    message: str
    endpoint: EndpointRef | None
    job_id: int | None
    remote_addr: str | None


class AuditPage(Schema):
    entries: list[AuditOut]
    next_cursor: str | None


class SubmitIn(Schema):
    endpoint: int = Field(description="The endpoint's id (GET /endpoints).")
    input: dict[str, Any] = Field(description="The job's input object, as RunPod's handler receives it.")
    mode: Literal["run", "runsync"] = Field("run", description="run: async; runsync: RunPod waits for the result.")
    stream: bool = Field(False, description="Read the results through /stream.")
    webhook: str = Field("", description="RunPod POSTs the final status here.")
    # Checked by the same service as the form's (key names, whole milliseconds in range), so kept as an object here.
    policy: dict[str, Any] | None = Field(
        None, description="RunPod's policy: executionTimeout and ttl in ms (5 s / 10 s to 7 days), lowPriority."
    )
    parent: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="Edit and run: the id of the job this one is a new attempt of, recorded as its parent_id.",
    )


class TrackIn(Schema):
    endpoint: int
    runpod_id: str = Field(description="A job id submitted elsewhere (RunPod's console, another script).")
    stream: bool = False


class PurgeIn(Schema):
    confirm: str = Field(description="The endpoint's name, exactly, as the page asks.")


class PurgeOut(Schema):
    removed: int = Field(description="Queued jobs RunPod removed.")


class CostLineOut(Schema):
    cost_usd: str | None = Field(description="Estimated cost of the priced jobs; null when none of them is priced.")
    so_far_usd: str = Field(description="The part of cost_usd from jobs still running.")
    jobs: int = Field(description="Jobs with an execution time (or still running).")
    running: int
    execution_ms: int = Field(description="RunPod's executionTime summed, running jobs' time so far included.")
    unpriced_jobs: int = Field(description="Jobs on endpoints with no price: not in cost_usd.")
    untimed_jobs: int = Field(description="Finished jobs RunPod reported no execution time for.")


class CostEndpointOut(CostLineOut):
    endpoint: EndpointRef
    price_per_second_usd: str | None


class CostUserOut(CostLineOut):
    username: str | None = Field(description="null: tracked by id or sent by the system.")


class CostDayOut(CostLineOut):
    day: str = Field(description="The local day (the server's TIME_ZONE), YYYY-MM-DD.")


class CostSummaryOut(Schema):
    since: datetime
    until: datetime
    time_zone: str
    note: str
    total: CostLineOut
    endpoints: list[CostEndpointOut]
    users: list[CostUserOut]
    days: list[CostDayOut]


class PriceIn(Schema):
    price_per_second_usd: str | None = Field(
        description="US dollars per second of GPU time, as a decimal string (0 to 9999.99999999, at most 8 decimal "
        "places); null or empty clears the price."
    )


class PriceOut(Schema):
    endpoint: EndpointRef
    price_per_second_usd: str | None
    changed: bool = Field(description="false when the price already was that (nothing was written or audited).")
