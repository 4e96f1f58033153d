"""Markdown for each benchmark's generated part of docs/benchmarks.md, from its result (var/bench/<name>.json).

bench/report.py puts them in place; every renderer takes the result dictionary its benchmark wrote.
"""

from __future__ import annotations

NONE = "\u2013"  # an en dash for an empty cell


# --- Formatting ------------------------------------------------------------------------------------------------


def n(value, digits=0) -> str:
    """A number with thousands separators, or a dash."""
    if value is None:
        return NONE
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(result: dict) -> str:
    machine = result["machine"]
    load = ", ".join(str(x) for x in machine.get("load_average", []))
    load_end = ", ".join(str(x) for x in machine.get("load_average_end", []))
    memory = f", {machine['memory_gib']} GiB" if machine.get("memory_gib") else ""
    extra = [f"PostgreSQL {result['postgres']}"] if result.get("postgres") else []
    extra += [f"Django {result['django']}"] if result.get("django") else []
    return (
        f"- Command: `{result['command']}`\n"
        f"- Machine: {machine['cores']} cores ({machine['cpu']}){memory}, Python {machine['python']}"
        + (f", {', '.join(extra)}" if extra else "")
        + f"; load average {load} at the start, {load_end} at the end.\n"
        f"- Date: {result['date']}."
    )


def met(flag: bool) -> str:
    return "met" if flag else "**not met**"


# --- One part per benchmark ------------------------------------------------------------------------------------


def poll_capacity(result: dict, sqlite: dict | None) -> str:
    res = result["results"]
    naive = res["naive"]["median_polls_per_s"]
    rows = [
        [
            "official `runpod` package: `job.status()` per job, one UPDATE per answer",
            NONE,
            f"**{n(naive, 1)}**",
            ", ".join(n(x, 1) for x in res["naive"]["runs_polls_per_s"]),
            "1x",
            NONE,
            NONE,
        ]
    ]
    for v in res["variants"]:
        cpu = [run["cpu_share"] for run in v["runs"]]
        share = "/".join(f"{sum(c[k] for c in cpu) / len(cpu):.2f}" for k in ("worker", "simulator", "postgres"))
        how = "".join(
            [
                f", {v['processes']} processes" if v.get("processes", 1) > 1 else "",
                ", pinned to a core" if v.get("pinned") else "",
            ]
        )
        rows.append(
            [
                f"`poll_round`, {v['variant']} answers{how}",
                v["poll_concurrency"],
                f"**{n(v['median_polls_per_s'])}**",
                ", ".join(n(x) for x in v["runs_polls_per_s"]),
                f"{v['ratio_to_naive']}x",
                n(v.get("median_polls_per_cpu_s")),
                share,
            ]
        )
    parts = [
        provenance(result),
        f"- Setup: {result['jobs_per_variant']:,} IN_PROGRESS jobs per variant over {result['endpoints']} endpoints, "
        f"{result['latency_ms']:.0f} ms added by the simulator to every request; {result['runs']} runs of "
        f"{result['seconds_per_run']:.0f} s per row (the median in bold); POLL_BATCH_SIZE "
        f"{result['settings']['POLL_BATCH_SIZE']}.",
        "",
        table(
            [
                "what polls",
                "POLL_CONCURRENCY",
                "median stored polls/s",
                "the runs",
                "vs the runpod loop",
                "stored polls per CPU-second of the worker",
                "CPU used: worker/simulator/PostgreSQL (cores)",
            ],
            rows,
        ),
    ]
    if sqlite:
        s = sqlite["results"]
        best = max(s["variants"], key=lambda v: v["median_polls_per_s"])
        parts += [
            "",
            f"SQLite, same command with `--db sqlite` ({sqlite['date']}): {best['variant']} answers "
            f"{n(best['median_polls_per_s'])} polls/s (runs {', '.join(n(x) for x in best['runs_polls_per_s'])}), "
            f"{best['ratio_to_naive']}x its runpod loop ({n(s['naive']['median_polls_per_s'], 1)}/s).",
        ]
    floor = res.get("http_floor")
    if floor:
        parts += ["", http_floor_sentence(floor)]
    limit = res.get("rate_limit")
    if limit:
        parts += [
            "",
            f"Rate limit with the documented limits in force (Endpoint.status_rate_per_10s "
            f"{limit['endpoint_status_rate_per_10s']:,}, RATE_LIMIT_SHARE {limit['rate_limit_share']}, the default "
            f"limiter; simulator limits on): two pollers taking 8 s rounds every 2 s for {limit['seconds']:.0f} s on "
            f"one endpoint with {limit['due_jobs']:,} jobs always due made {limit['status_calls']:,} status calls; "
            f"the most in any 10 s window at the simulator was **{limit['max_poll_per_10s']:,}** (limit "
            f"{limit['documented_limit_per_10s']:,}: {met(limit['max_poll_per_10s'] <= 2000)}); answered 429: "
            f"{limit['answered_429']}.",
        ]
    return "\n".join(parts)


def http_floor_sentence(floor: dict) -> str:
    def mid(runs, key):
        return sorted(run[key] for run in runs)[len(runs) // 2]

    in_flight = floor["in_flight_per_endpoint"] * floor["endpoints"]
    ratio = http_ratio(floor)
    return (
        f"The HTTP stack alone, same run, nothing stored ({in_flight} requests in flight, median of "
        f"{len(floor['client'])} runs of {floor['seconds']:.0f} s): `AsyncRunPodClient.status` over "
        f"`make_async_http()` {n(mid(floor['client'], 'requests_per_s'))} requests/s at "
        f"{n(mid(floor['client'], 'cpu_us_per_request'))} µs of CPU each; a bare aiohttp GET parsed with "
        f"json.loads {n(mid(floor['aiohttp'], 'requests_per_s'))}/s at {n(mid(floor['aiohttp'], 'cpu_us_per_request'))}"
        f" µs each: the client costs **{ratio}x** the bare GET in CPU per request (median of the runs' ratios; "
        f"target ≤ 2x: {met(ratio <= 2)})."
    )


def http_ratio(floor: dict) -> float:
    """CPU per request of our client over the bare aiohttp GET's, the median of each run's pair."""
    ratios = sorted(
        c["cpu_us_per_request"] / a["cpu_us_per_request"]
        for c, a in zip(floor["client"], floor["aiohttp"], strict=True)
        if a["cpu_us_per_request"]
    )
    return round(ratios[len(ratios) // 2], 2) if ratios else float("nan")


def capture(result: dict) -> str:
    rows = [
        [
            i + 1,
            n(r["stored"]),
            f"**{r['lost']}**",
            r["lag_p50_s"],
            r["lag_p99_s"],
            r["lag_max_s"],
            f"{r['p99_share_of_retention'] * 100:.0f} %",
            f"{r['status_calls'] / max(r['stored'], 1):.2f}",
            n(r["max_poll_per_10s"]),
            f"{r['answered_429']} ({r['run_calls'] - r['stored']} on /run)" if "run_calls" in r else r["answered_429"],
            r["seconds"],
        ]
        for i, r in enumerate(result["runs"])
    ]
    return "\n".join(
        [
            provenance(result),
            f"- Setup: {result['jobs']:,} /run jobs over {result['endpoints']} endpoints per run, time scale "
            f"{result['time_scale']:.0f} (a /run result lives {result['retention_s']:.0f} s), "
            f"{result['latency_ms']:.0f} ms per request, RunPod's rate limits on; one Celery worker (2 processes) "
            "with its beat and default settings.",
            "",
            table(
                [
                    "run",
                    "jobs",
                    "lost",
                    "lag p50 (s)",
                    "lag p99 (s)",
                    "lag max (s)",
                    "p99 lag / retention",
                    "status calls per job",
                    "max status calls in 10 s (one endpoint)",
                    "429s",
                    "seconds to settle",
                ],
                rows,
            ),
            "",
            f"Median over the runs: lag p50 **{result['median_lag_p50_s']} s**, p99 **{result['median_lag_p99_s']} "
            f"s** against a retention of {result['retention_s']:.0f} s; lost in all runs: **{result['lost_total']}** "
            f"(target 0: {met(result['lost_total'] == 0)}).",
        ]
    )


PAGE_ORDER = (
    "overview",
    "jobs",
    "jobs_filtered",
    "jobs_deep",
    "jobs_id",
    "jobs_text",
    "jobs_text_rare",
    "job",
    "job_stream",
    "endpoint",
    "endpoint_7d",
)


def page_speed(result: dict) -> str:
    pages = {p["key"]: p for p in result["pages"]}
    rows = []
    for key in PAGE_ORDER:
        p = pages.get(key)
        if not p:
            continue
        target = f"{p['target_median_ms']} / {p['target_p95_ms']}" if "target_median_ms" in p else NONE
        compared = pages.get(p.get("vs") or "")
        rows.append(
            [
                p["label"],
                f"**{p['median_ms']:.1f}** / {p['p95_ms']:.1f}",
                f"{p['cpu_median_ms']:.1f}" if "cpu_median_ms" in p else NONE,
                target,
                met(p["meets_target"]) if "meets_target" in p else NONE,
                p["queries"],
                f"{compared['label']}: {compared['median_ms']:.1f}" if compared else NONE,
                f"{p['speedup_vs_admin']}x" if p.get("speedup_vs_admin") else NONE,
            ]
        )
    admin_rows = [
        [
            p["label"],
            f"{p['median_ms']:.1f} / {p['p95_ms']:.1f}",
            f"{p['cpu_median_ms']:.1f}" if "cpu_median_ms" in p else NONE,
            p["queries"],
        ]
        for p in result["pages"]
        if p["group"] == "admin"
    ]
    seeding = result.get("seeding", {})
    seeded = f" (seeded in this run in {seeding['seconds']:.0f} s)" if seeding and not seeding.get("reused") else ""
    return "\n".join(
        [
            provenance(result),
            f"- Data: {result['jobs']:,} jobs over a week on 10 endpoints with their transitions and some streams, "
            f"and a week of 10-second health snapshots per endpoint{seeded}; {result['iterations']} rounds over "
            "every page after 3 warm-up requests each (warm caches), server time through Django's test Client.",
            "",
            table(
                [
                    "page",
                    "median / p95 (ms)",
                    "of it Python CPU (ms)",
                    "target (ms)",
                    "",
                    "queries",
                    "admin page compared (median ms)",
                    "faster than it",
                ],
                rows,
            ),
            "",
            "The admin pages, same run:",
            "",
            table(["admin page", "median / p95 (ms)", "of it Python CPU (ms)", "queries"], admin_rows),
        ]
    )


def memory(result: dict) -> str:
    parts = [provenance(result), ""]
    worker = result.get("worker")
    if worker:
        idle, loaded = worker["idle"], worker["loaded"]
        parts += [
            table(
                ["worker", "largest process, peak (VmHWM)", "/usr/bin/time -v max RSS", "requests/s to RunPod"],
                [
                    [
                        f"{n(loaded.get('jobs_in_flight'))} jobs in flight",
                        f"**{loaded['peak_process_mib']} MiB**",
                        f"{loaded['time_max_rss_mib']} MiB",
                        loaded["polls_per_s"],
                    ],
                    [
                        "nothing to poll (same run)",
                        f"{idle['peak_process_mib']} MiB",
                        f"{idle['time_max_rss_mib']} MiB",
                        idle["polls_per_s"],
                    ],
                ],
            ),
            "",
            f"Worker: {worker['ratio_to_idle']}x its idle peak; target under {worker['target_mib']} MiB: "
            f"{met(loaded['peak_process_mib'] < worker['target_mib'])}. Processes (peak MiB): "
            + ", ".join(f"{p['hwm_mib']}" for p in loaded["processes"])
            + ".",
            "",
        ]
    web = result.get("web")
    if web:
        ours, admin = web["dashboard"], web["admin"]
        parts += [
            table(
                ["gunicorn worker serving", "requests", "after start", "peak (VmHWM)", "/usr/bin/time -v max RSS"],
                [
                    [
                        "the dashboard's pages",
                        ours["requests"],
                        f"{ours['after_start_mib']} MiB",
                        f"**{ours['peak_process_mib']} MiB**",
                        f"{ours['time_max_rss_mib']} MiB",
                    ],
                    [
                        "the admin's job pages (same run)",
                        admin["requests"],
                        f"{admin['after_start_mib']} MiB",
                        f"{admin['peak_process_mib']} MiB",
                        f"{admin['time_max_rss_mib']} MiB",
                    ],
                ],
            ),
            "",
            f"Web: {web['ratio_to_admin']}x the admin's peak, on {web['database_jobs']:,} jobs; target under "
            f"{web['target_mib']} MiB: {met(ours['peak_process_mib'] < web['target_mib'])}; failed requests: "
            f"{ours['failed_requests'] + admin['failed_requests']}.",
        ]
    return "\n".join(parts)


def stream_latency(result: dict) -> str:
    def row(label, s):
        return [label, s["samples"], s["p50_s"], f"**{s['p95_s']}**", s["max_s"]]

    return "\n".join(
        [
            provenance(result),
            f"- Setup: {result['jobs']} streaming jobs of {result['chunks']} chunks, one every "
            f"{result['interval_s']} s, {result['latency_ms']:.0f} ms per request; worker, beat and gunicorn with "
            "default settings; headless Chromium; the simulator's chunk counter sampled every 20 ms.",
            "",
            table(
                ["from the simulator producing a chunk to", "chunks", "p50 (s)", "p95 (s)", "max (s)"],
                [
                    row("its row in the job page in Chromium", result["dashboard"]),
                    row("... of which: stored by the worker", result["produced_to_stored"]),
                    row("... of which: stored to shown by the page", result["stored_to_visible"]),
                    row("yielded by `job.stream()` of the runpod package (same run)", result["runpod_package"]),
                ],
            ),
            "",
            f"p95 {result['dashboard']['p95_s']} s, {result['ratio_p95_to_package']}x the runpod package's own loop; "
            f"target p95 under {result['target_p95_s']:.0f} s: {met(result['meets_target'])}.",
        ]
    )


def summary(results: dict) -> str:
    rows = []
    poll = results.get("poll_capacity")
    if poll:
        variants = poll["results"]["variants"]
        default = poll["settings"]["POLL_CONCURRENCY"]
        # The shipped setting decides the target; the other rows give the spread.
        row = next(
            (
                v
                for v in variants
                if v["variant"] == "steady"
                and v["poll_concurrency"] == default
                and v.get("processes", 1) == 1
                and not v.get("pinned")
            ),
            variants[0],
        )
        rates = [v["median_polls_per_s"] for v in variants]
        naive = poll["results"]["naive"]["median_polls_per_s"]
        limit = poll["results"].get("rate_limit", {})
        rows.append(
            [
                "1. Poll capacity",
                f"{n(row['median_polls_per_s'])} stored polls/s ({row['variant']}, default concurrency "
                f"{row['poll_concurrency']}; {n(min(rates))}-{n(max(rates))} over every row); "
                f"{n(row.get('median_polls_per_cpu_s'))} per CPU-second of the process",
                f"{row['ratio_to_naive']}x the runpod loop ({n(naive, 1)}/s)",
                "≥ 50x and ≥ 1,000/s: " + met(row["ratio_to_naive"] >= 50 and row["median_polls_per_s"] >= 1000),
            ]
        )
        floor = poll["results"].get("http_floor")
        one = [v for v in variants if v.get("processes", 1) == 1 and not v.get("pinned")]
        cpu_rates = [v["median_polls_per_cpu_s"] for v in one if v.get("median_polls_per_cpu_s")]
        if cpu_rates:
            rows.append(
                [
                    "1. Polls per CPU-second",
                    f"{n(max(cpu_rates))} stored polls per CPU-second of the worker (best row; "
                    f"{n(min(cpu_rates))}-{n(max(cpu_rates))} over the rows)",
                    f"HTTP only: the client {http_ratio(floor)}x a bare aiohttp GET + parse" if floor else NONE,
                    "≥ 2,500: "
                    + met(max(cpu_rates) >= 2500)
                    + ("; HTTP ≤ 2x: " + met(http_ratio(floor) <= 2) if floor else ""),
                ]
            )
        pinned = [v for v in variants if v.get("pinned")]
        if pinned:
            best = max(pinned, key=lambda v: v["median_polls_per_s"])
            rows.append(
                [
                    "1. Worker on its own core",
                    f"{n(best['median_polls_per_s'])} stored polls/s (taskset-style pinning)",
                    f"{best['ratio_to_naive']}x the runpod loop",
                    "≥ 1,500/s and ≥ 80x: "
                    + met(best["median_polls_per_s"] >= 1500 and (best["ratio_to_naive"] or 0) >= 80),
                ]
            )
        two = [v for v in variants if v.get("processes", 1) == 2]
        if two and one:
            pair = max(two, key=lambda v: v["median_polls_per_cpu_s"] or 0)
            single = next((v for v in one if v["variant"] == pair["variant"]), one[0])
            share = pair["median_polls_per_cpu_s"] / single["median_polls_per_cpu_s"]
            rows.append(
                [
                    "1. Two processes",
                    f"{n(pair['median_polls_per_cpu_s'])} stored polls per CPU-second with two pollers",
                    f"{share * 100:.0f} % of one process's {n(single['median_polls_per_cpu_s'])}",
                    "within 10 %: " + met(share >= 0.9),
                ]
            )
        if limit:
            rows.append(
                [
                    "1. Rate limit",
                    f"max {n(limit['max_poll_per_10s'])} status calls in 10 s",
                    f"limit {n(limit['documented_limit_per_10s'])}",
                    "≤ 2,000: " + met(limit["max_poll_per_10s"] <= 2000),
                ]
            )
    cap = results.get("capture")
    if cap:
        rows.append(
            [
                "2. Capture under load",
                f"{cap['lost_total']} lost of {cap['jobs'] * len(cap['runs']):,} ({len(cap['runs'])} runs); "
                f"lag p50 {cap['median_lag_p50_s']} s, p99 {cap['median_lag_p99_s']} s",
                f"p99 is {cap['median_lag_p99_s'] / cap['retention_s'] * 100:.0f} % of the {cap['retention_s']:.0f} s "
                "retention",
                "0 lost: " + met(cap["lost_total"] == 0),
            ]
        )
    pages = results.get("page_speed")
    if pages:
        ours = [p for p in pages["pages"] if "meets_target" in p]
        missed = [p["label"] for p in ours if not p["meets_target"]]
        speedups = [p["speedup_vs_admin"] for p in ours if p.get("speedup_vs_admin")]
        rows.append(
            [
                "3. Page speed",
                f"{len(ours) - len(missed)} of {len(ours)} pages within target",
                f"{min(speedups)}x to {max(speedups)}x faster than the admin" if speedups else NONE,
                "every page: " + met(not missed) + (f" ({', '.join(missed)})" if missed else ""),
            ]
        )
    mem = results.get("memory")
    if mem and mem.get("worker") and mem.get("web"):
        worker, web = mem["worker"], mem["web"]
        rows.append(
            [
                "4. Memory",
                f"worker {worker['loaded']['peak_process_mib']} MiB, web {web['dashboard']['peak_process_mib']} MiB",
                f"{worker['ratio_to_idle']}x an idle worker; {web['ratio_to_admin']}x the admin",
                "< 200 / < 150 MiB: "
                + met(worker["loaded"]["peak_process_mib"] < 200 and web["dashboard"]["peak_process_mib"] < 150),
            ]
        )
    stream = results.get("stream_latency")
    if stream:
        rows.append(
            [
                "5. Stream latency",
                f"p95 {stream['dashboard']['p95_s']} s (p50 {stream['dashboard']['p50_s']} s)",
                f"{stream['ratio_p95_to_package']}x the runpod package's `job.stream()`",
                "p95 < 2 s: " + met(stream["meets_target"]),
            ]
        )
    return table(["issue item", "figure (median)", "comparison, same run", "target"], rows)


def bulk_cancel(result: dict) -> str:
    rows = [
        [
            r["run"],
            n(r["jobs"]),
            n(r["seconds"], 1),
            n(r["cpu_seconds"], 1),
            n(r["cancel_calls"]),
            n(r["cancelled_once"]),
            n(r["responses_429"]),
            n(r["max_cancels_per_10s"]),
        ]
        for r in result["runs"]
    ]
    header = ["run", "jobs", "seconds", "CPU s", "/cancel calls", "CANCELLED once", "429s", "most in 10 s"]
    return (
        f"{provenance(result)}\n"
        f"- Database: {result['database']}; simulator latency {n(result['latency_ms'])} ms per request, RunPod's "
        f"documented limits on.\n\n"
        + table(header, rows)
        + f"\n\nMedian **{n(result['median_seconds'], 1)} s**: **{result['ratio_to_limit_floor']}x** the "
        f"{n(result['floor_seconds_limit'])} s floor of the documented {result['limit_per_10s']} per 10 s, and "
        f"{result['ratio_to_budget_floor']}x the {n(result['floor_seconds_budget'])} s floor of the "
        f"{result['budget_per_10s']} per 10 s the batch allows itself (RATE_LIMIT_SHARE {result['rate_limit_share']}). "
        f"No 429: {met(result['no_429'])}; every job CANCELLED exactly once: {met(result['all_cancelled_once'])}.\n"
    )


def api_scale(result: dict) -> str:
    runs, check, metrics, summary_ = result["csv_runs"], result["csv_check"], result["metrics"], result["summary"]
    measured = [("CSV run " + str(i + 1), r) for i, r in enumerate(runs)]
    measured += [("NDJSON", result["ndjson_run"])] if result.get("ndjson_run") else []
    rows = [
        [
            label,
            n(r["seconds"], 1),
            n(r["cpu_seconds"], 1),
            n(r["bytes"] / 1024 / 1024, 1),
            n(r["rss_before_mib"], 1),
            n(r["peak_growth_mib"], 1),
        ]
        for label, r in measured
    ]
    return (
        table(["export of every job", "seconds", "CPU s", "MiB written", "RSS before (MiB)", "peak growth (MiB)"], rows)
        + f"\n\n- {n(summary_['rows'])} rows, {n(summary_['rows_per_second'])} rows/s (median); peak RSS growth "
        f"{summary_['peak_growth_mib_max']} MiB at most, under 100 MiB: {met(summary_['bounded_memory'])}.\n"
        f"- Read back with Python's csv module and compared with the database row by row: {n(check['rows'])} rows, "
        f"{check['mismatched_rows']} mismatched, header {'as documented' if check['header_ok'] else 'WRONG'}: "
        f"{met(summary_['round_trip_ok'])}.\n"
        f"- `/metrics` over {n(metrics['transitions'])} stored transitions: the first scrape of an empty tally "
        f"{metrics['first_scrape_seconds']} s (once); then median {metrics['steady_seconds_median']} s "
        f"(max {metrics['steady_seconds_max']} s, {metrics['steady_cpu_seconds_median']} CPU s of the web process) "
        f"over {metrics['scrapes']} scrapes, {n(metrics['bytes'])} bytes each.\n" + provenance(result)
    )
