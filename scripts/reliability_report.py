"""Rewrite the generated part of docs/reliability.md from the figures the reliability tests wrote.

    .venv/bin/python scripts/reliability_report.py [--figures DIR]

Each test in tests/reliability that measures something writes `<name>.json` to $ARTIFACTS_DIR/reliability/
(default artifacts/reliability/). This script turns those files into the tables between
`<!-- reliability:figures -->` and `<!-- /reliability:figures -->`; the prose around them is written by hand.
A figure file that is missing leaves its row out and says so, rather than keeping an old number.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
MARKER = "reliability:figures"

# name -> (what was done to the system, the test that did it)
RUNS = {
    "fault_run": ("RunPod faults: 5xx, timeouts, drops, 429 bursts, slow answers", "test_fault_run.py"),
    "worker_and_beat_killed": ("Worker SIGKILLed mid-batch, then beat killed", "test_infrastructure.py"),
    "redis_restart": ("Redis killed (queued tasks lost) and restarted", "test_infrastructure.py"),
    "database_outage": ("Database unreachable mid-run", "test_infrastructure.py"),
    "two_workers": ("Two workers, two beats, extra overlapping ticks", "test_two_workers.py"),
    "big_queue": ("50,000-job queue purged mid-polling", "test_big_queue.py"),
}


def load(directory: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def number(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def runs_table(figures: dict[str, dict]) -> list[str]:
    lines = [
        "| run | jobs | run by RunPod | archived | lost | duplicate jobs / chunks / transitions | seconds | measured |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    missing = []
    for name, (what, test) in RUNS.items():
        data = figures.get(name)
        if data is None:
            missing.append(f"`{name}` ({test})")
            continue
        jobs = data.get("jobs_submitted", data.get("jobs", data.get("queue")))
        ran = data.get("jobs_run_by_runpod", data.get("polled_jobs", data.get("queue")))
        archived = data.get("jobs_archived", data.get("jobs_cancelled_and_archived", data.get("polled_jobs")))
        doubled = "{} / {} / {}".format(
            number(data.get("duplicate_jobs", 0)),
            number(data.get("duplicate_chunks", 0)),
            number(data.get("duplicate_transitions", 0)),
        )
        stamp = f"{data['measured_at'][:16].replace('T', ' ')} UTC, {data['database']}"
        lines.append(
            f"| {what} (`{test}`) | {number(jobs)} | {number(ran)} | {number(archived)} | "
            f"**{number(data.get('results_lost', 0))}** | {doubled} | {number(data.get('seconds', '-'))} | {stamp} |"
        )
    if missing:
        lines += ["", "No figures on record for: " + ", ".join(missing) + "."]
    return lines


def fault_lines(data: dict) -> list[str]:
    faults = data["faults_injected"]
    played = data["faults_played"]
    return [
        f"- Requests to the simulator: {number(data['requests'])}; faults injected: {number(faults['error'])} 5xx, "
        f"{number(faults['timeout'])} timeouts (hangs past the client's timeout), {number(faults['drop'])} dropped "
        f"connections, {number(faults['burst_429'])} answers of 429 in {played['bursts_with_retry_after']} bursts "
        f"with Retry-After and {played['bursts_without_retry_after']} without, {played['slow_periods']} slow "
        f"periods (250 ms + up to 500 ms jitter); 429 from the real limit: {number(faults['rate_limited'])}.",
        f"- Submissions refused with a reason (a /run that hit a fault after it may have reached RunPod is never "
        f"resent blindly): {number(data['refused_at_submission'])}; RunPod ran exactly the "
        f"{number(data['jobs_run_by_runpod'])} jobs whose ids we hold, and all are archived.",
        f"- Stream chunks produced {number(data['chunks_produced'])}, stored {number(data['chunks_stored'])}; "
        f"transitions {number(data['transitions'])}, none twice.",
        f"- After the faults stopped: polling normal again in {number(data['recovery_seconds'])} s, every job an "
        f"error had pushed back polled again in {number(data['every_pushed_back_job_polled_seconds'])} s "
        f"(one cycle is {number(data['cycle_seconds'])} s). Most /status calls in any 10 s: "
        f"{number(data['max_status_calls_per_10s'])}.",
    ]


def big_queue_lines(data: dict) -> list[str]:
    pages = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in data["page_seconds"].items())
    return [
        f"- {number(data['queue'])} jobs queued (filled in {number(data['fill_seconds'])} s), purge after "
        f"{number(data['purged_after_polls'])} polls: RunPod removed {number(data['removed_by_purge'])}; "
        f"{number(data['jobs_cancelled_and_archived'])} ended CANCELLED and archived, "
        f"{number(data['duplicate_transitions'])} transitions twice.",
        f"- {number(data['status_calls'])} status calls in {number(data['poll_rounds'])} rounds; most in any 10 s "
        f"{number(data['max_status_calls_per_10s'])} against a limit of {number(data['rate_limit_per_10s'])}; "
        f"answered 429: {number(data['answered_429'])}.",
        f"- Pages on that endpoint afterwards (one request each): {pages}.",
    ]


def infrastructure_lines(figures: dict[str, dict]) -> list[str]:
    lines = []
    if data := figures.get("worker_and_beat_killed"):
        lines.append(
            f"- Worker SIGKILLed while it held {number(data['jobs_leased_when_the_worker_died'])} jobs leased for "
            "polling; a new worker took them over when the leases ran out; beat killed and started again."
        )
    if data := figures.get("kill_mid_send"):
        lines.append(
            "- Worker SIGKILLed while its /run was on the wire: /run requests RunPod answered for the two jobs of "
            f"that test: {data['run_requests']} (nothing resent); the cut-off job ended {data['cut_off_status']} "
            f"with its reason after {data['send_stuck_seconds']} s (`SEND_STUCK_SECONDS`, 300 in production); the "
            f"job submitted after the kill was archived; jobs RunPod held on that endpoint: {data['jobs_at_runpod']} "
            f"({data['database']})."
        )
    if data := figures.get("redis_restart"):
        lines.append(
            f"- Redis killed with {number(data['sends_queued_when_redis_died'])} send tasks queued (all lost with "
            f"it), {number(data['submitted_while_redis_was_down'])} jobs submitted while it was down; after the "
            "restart the resend sweep sent every one, once"
            + (
                " (the worker and beat had to be restarted: they did not poll again within 45 s)."
                if data.get("worker_and_beat_restarted_after_redis")
                else "; the worker and beat resumed on their own."
            )
        )
    if data := figures.get("database_outage"):
        lines.append(
            f"- Database unreachable for {number(data['outage_seconds'])} s mid-run: tasks failed and retried, "
            "nothing was written half-way."
        )
    if data := figures.get("two_workers"):
        lines.append(
            f"- Two workers, two beats and {number(data['extra_ticks_fired'])} extra poll ticks on {data['jobs']} "
            f"jobs: {number(data['status_and_stream_requests'])} /status and /stream requests, "
            f"{data['requests_open_at_once_for_one_job']} requests open at once for one job, "
            f"{data['polls_sooner_than_the_interval']} polls sooner than the job's interval (shortest gap "
            f"{data['shortest_gap_between_status_polls_seconds']} s for a 1 s interval), chunks produced "
            f"{data['chunks_produced']} / stored {data['chunks_stored']}; both workers polled: "
            f"{'yes' if data['both_workers_polled'] else 'no'}."
        )
    return lines


def input_lines(figures: dict[str, dict]) -> list[str]:
    lines = []
    if data := figures.get("bad_input"):
        total = data["total"]
        statuses = ", ".join(f"{code}: {number(n)}" for code, n in total["by_status"].items())
        lines.append(
            f"- Hypothesis inputs tried: **{number(total['inputs'])}**, answers by status {statuses}; "
            f"**500s: {total['500s']}**."
        )
        lines += [
            f"  - {name}: {number(t['inputs'])} inputs, 500s {t['500s']}" for name, t in data["by_surface"].items()
        ]
    if data := figures.get("hostile_status_answers"):
        lines.append(
            f"- Hostile RunPod answers: {data['cases']} kinds ({data['stored']} stored in the nearest storable form, "
            f"{data['refused']} refused and polled again), {data['neighbours_archived']} well-behaved jobs in the "
            "same batches archived, every page rendered: " + ", ".join(f"`{a}`" for a in data["answers"]) + "."
        )
    if data := figures.get("key_revoked"):
        lines.append(
            f"- Key revoked at RunPod: watched {number(data['watched_seconds'])} s; requests answered 401: "
            f"{data['refused_requests']}, of them {data['requests_after_flag']} after the endpoint was flagged "
            f"(it waits for its 5-minute retry); {data['healthy_jobs_archived']} jobs on a healthy endpoint "
            f"archived meanwhile, {data['revoked_jobs_untouched']} on the revoked one left untouched for when the "
            "key is fixed."
        )
    return lines


def render(figures: dict[str, dict]) -> str:
    lines = ["### Every run", "", *runs_table(figures), ""]
    if data := figures.get("fault_run"):
        lines += ["### RunPod misbehaving", "", *fault_lines(data), ""]
    if infrastructure := infrastructure_lines(figures):
        lines += ["### Our own parts failing", "", *infrastructure, ""]
    if data := figures.get("big_queue"):
        lines += ["### The largest queue", "", *big_queue_lines(data), ""]
    if inputs := input_lines(figures):
        lines += ["### Bad input and hostile answers", "", *inputs, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts") / "reliability"
    parser.add_argument("--figures", type=Path, default=default)
    args = parser.parse_args()
    figures = load(args.figures)
    if not figures:
        print(f"no figures in {args.figures}: run the reliability tests first", file=sys.stderr)
        return 1
    text = DOC.read_text()
    pattern = re.compile(rf"(<!-- {MARKER} -->\n).*?(<!-- /{MARKER} -->)", re.DOTALL)
    if not pattern.search(text):
        print(f"{DOC} has no <!-- {MARKER} --> ... <!-- /{MARKER} --> pair", file=sys.stderr)
        return 1
    DOC.write_text(pattern.sub(lambda m: m.group(1) + render(figures) + "\n" + m.group(2), text))
    print(f"{DOC}: figures from {len(figures)} files in {args.figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
