"""Charts as inline SVG drawn on the server: lines, stacked areas and stacked bars over time buckets.

No JavaScript library: each chart is a few paths with axes, a legend, and one hover band per bucket whose
<title> lists that bucket's values. Colours come from CSS classes (c-<series>) so both themes apply.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape as esc

from django.core.cache import cache
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dashboard.templatetags.costs import usd_text
from jobs import selectors

WORKER_STATES = (
    ("workers_running", "Running", "running"),
    ("workers_ready", "Ready", "ready"),
    ("workers_idle", "Idle", "idle"),
    ("workers_initializing", "Initializing", "initializing"),
    ("workers_throttled", "Throttled", "throttled"),
    ("workers_unhealthy", "Unhealthy", "unhealthy"),
)


@dataclass(frozen=True)
class Frame:
    """The drawing area inside the SVG's viewBox."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def inner_width(self):
        return self.width - self.left - self.right

    @property
    def inner_height(self):
        return self.height - self.top - self.bottom


FRAMES = {
    "large": Frame(720, 220, 44, 12, 12, 26),
    "compact": Frame(360, 90, 28, 6, 8, 18),
    # A chart alone across a wide page (the Cost page): wider, so its text is not blown up.
    "wide": Frame(1100, 240, 60, 12, 12, 26),
}


def svg_tag(template, *args):
    """format_html for SVG markup, lighter: floats get one decimal, text is escaped, safe HTML passes through.

    Charts emit thousands of these per page, and format_html's lazy-string checks dominated their cost.
    """

    def fmt(arg):
        if isinstance(arg, float):
            return f"{arg:.1f}"
        if isinstance(arg, str) and not isinstance(arg, SafeString):
            return esc(arg)
        return arg

    return mark_safe(template.format(*(fmt(arg) for arg in args)))  # noqa: S308 - every argument escaped above


def join_safe(parts):
    """Concatenate HTML built by svg_tag or format_html; plain strings among the parts are escaped."""
    return mark_safe("".join(p if isinstance(p, SafeString) else esc(p) for p in parts))  # noqa: S308 - see above


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least the value (and at least 1); never 2.5 itself, as the axes
    count whole jobs and workers."""
    if value <= 1:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    steps = (1, 2, 5, 10) if exponent == 1 else (1, 2, 2.5, 5, 10)
    return next(step * exponent for step in steps if step * exponent >= value)


def _value(bucket, key):
    if bucket.values is None:
        return None
    value = bucket.values.get(key)
    return None if value is None else float(value)


def _label_time(start, span_seconds) -> str:
    local = start.astimezone(timezone.get_current_timezone())
    return local.strftime("%a %H:%M") if span_seconds > 86400 else local.strftime("%H:%M")


def _axes(frame, buckets, top_value, *, unit=""):
    """Grid lines with y labels, and a few x labels under the plot."""
    parts = []
    ticks = _tick_count(top_value, (2, 1) if frame is FRAMES["compact"] else (4, 5, 2, 1))
    for i in range(ticks + 1):
        value = top_value * i / ticks
        y = frame.top + frame.inner_height * (1 - i / ticks)
        label = f"{value:g}{unit}" if value < 1000 else f"{value / 1000:g}k{unit}"
        parts.append(_grid_line(frame, y, label))
    if len(buckets) > 1:
        span = (buckets[-1].start - buckets[0].start).total_seconds()
        count = 3 if frame is FRAMES["compact"] else 6
        for i in range(count):
            index = round(i * (len(buckets) - 1) / (count - 1))
            x = _x(frame, index, len(buckets))
            anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
            parts.append(
                svg_tag(
                    '<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                    x,
                    frame.height - 6,
                    anchor,
                    _label_time(buckets[index].start, span),
                )
            )
    return join_safe(parts)


def _grid_line(frame, y, label) -> str:
    """One horizontal grid line across the plot with its value at the left."""
    return svg_tag(
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
        frame.left,
        frame.width - frame.right,
        y,
        y,
        frame.left - 4,
        y + 3.5,
        label,
    )


def _tick_count(top_value, preferred) -> int:
    """The first preferred number of steps that splits the axis into whole numbers (counts are whole)."""
    return next((n for n in preferred if (top_value / n).is_integer()), preferred[0])


def _x(frame, index, count):
    if count <= 1:
        return frame.left + frame.inner_width / 2
    return frame.left + frame.inner_width * index / (count - 1)


def _y(frame, value, top_value):
    return frame.top + frame.inner_height * (1 - value / top_value)


def _hover_bands(frame, buckets, series, *, unit=""):
    """One transparent column per bucket whose tooltip lists the bucket's values.

    Built with f-strings rather than format_html: a page has hundreds of bands, every number in them is ours,
    and the only text (the tooltip) is escaped here.
    """
    count = len(buckets)
    width = frame.inner_width / max(count - 1, 1)
    span = (buckets[-1].start - buckets[0].start).total_seconds() if count > 1 else 0
    tz = timezone.get_current_timezone()
    pattern = "%a %H:%M" if span > 86400 else "%H:%M"
    right = frame.width - frame.right
    bands = []
    for index, bucket in enumerate(buckets):
        when = bucket.start.astimezone(tz).strftime(pattern)
        if bucket.values is None:
            text = f"{when}: no data"
        else:
            text = f"{when}: " + ", ".join(f"{label} {_fmt(_value(bucket, key))}{unit}" for key, label, _ in series)
        x = max(frame.left, _x(frame, index, count) - width / 2)
        bands.append(
            f'<rect class="band" x="{x:.1f}" y="{frame.top}" width="{min(width, right - x):.1f}" '
            f'height="{frame.inner_height}"><title>{escape(text)}</title></rect>'
        )
    return mark_safe("".join(bands))  # noqa: S308 - numbers computed here and an escaped title


def _fmt(value):
    if value is None:
        return "—"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _svg(frame, title, content, *, size):
    return format_html(
        '<svg class="chart-svg chart-{}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'preserveAspectRatio="xMidYMid meet">{}</svg>',
        size,
        frame.width,
        frame.height,
        title,
        content,
    )


def _number(value):
    if value is None:
        return "—"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _figure(svg, buckets, series, *, title, empty, legend_values):
    """The chart with its caption and legend (an f-string: the overview draws one per endpoint per refresh)."""
    legend = "".join(
        f'<li><i class="sw c-{esc(css)}"></i>{esc(label)} <b>{_number(value)}</b></li>'
        for (_, label, css), value in zip(series, legend_values, strict=True)
    )
    caption = f'<figcaption class="chart-title">{esc(title)}</figcaption>' if title else ""
    note = '<span class="chart-empty">No data in this window</span>' if empty else ""
    html = (
        f'<figure class="chart{" is-empty" if empty else ""}">{caption}'
        f'<div class="chart-plot">{svg}{note}</div><ul class="legend">{legend}</ul></figure>'
    )
    return mark_safe(html)  # noqa: S308 - the SVG is built safe above, and every text here is escaped


def _latest(buckets, key):
    for bucket in reversed(buckets):
        value = _value(bucket, key)
        if value is not None:
            return value
    return None


def _runs(points):
    """Split (x, y-or-None) points into runs without gaps."""
    run = []
    for x, y in points:
        if y is None:
            if run:
                yield run
            run = []
        else:
            run.append((x, y))
    if run:
        yield run


def line_chart(buckets, series, *, title="", size="large", unit=""):
    """One line per (key, label, css) series."""
    frame = FRAMES[size]
    values = [v for b in buckets for key, _, _ in series if (v := _value(b, key)) is not None]
    top = nice_ceiling(max(values, default=0))
    paths = []
    for key, _, css in series:
        points = [(_x(frame, i, len(buckets)), _value(b, key)) for i, b in enumerate(buckets)]
        for run in _runs(points):
            d = " ".join(f"{'M' if n == 0 else 'L'}{x:.1f},{_y(frame, y, top):.1f}" for n, (x, y) in enumerate(run))
            paths.append(format_html('<path class="line c-{}" d="{}"/>', css, d))
            if len(run) == 1:
                # A lone point (data in one bucket only) would be an invisible line: mark it with a dot.
                x, y = run[0]
                paths.append(svg_tag('<circle class="dot c-{}" cx="{}" cy="{}" r="2.5"/>', css, x, _y(frame, y, top)))
    content = join_safe(
        [
            _axes(frame, buckets, top, unit=unit),
            *paths,
            _hover_bands(frame, buckets, series, unit=unit) if buckets else "",
        ]
    )
    return _figure(
        _svg(frame, title, content, size=size),
        buckets,
        series,
        title=title,
        empty=not values,
        legend_values=[_latest(buckets, key) for key, _, _ in series],
    )


def stacked_chart(buckets, series, *, title="", size="large"):
    """Areas stacked in series order (the first at the bottom), e.g. workers by state."""
    frame = FRAMES[size]
    totals = [sum(_value(b, key) or 0 for key, _, _ in series) if b.values is not None else None for b in buckets]
    top = nice_ceiling(max((t for t in totals if t is not None), default=0))
    base = [0.0] * len(buckets)
    shapes = []
    for key, _, css in series:
        upper = [base[i] + (_value(b, key) or 0) for i, b in enumerate(buckets)]
        for run in _runs([(i, None if b.values is None else 1) for i, b in enumerate(buckets)]):
            indexes = [i for i, _ in run]
            top_edge = [(_x(frame, i, len(buckets)), _y(frame, upper[i], top)) for i in indexes]
            bottom_edge = [(_x(frame, i, len(buckets)), _y(frame, base[i], top)) for i in reversed(indexes)]
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in top_edge + bottom_edge)
            shapes.append(format_html('<polygon class="area c-{}" points="{}"/>', css, points))
        base = upper
    content = join_safe([_axes(frame, buckets, top), *shapes, _hover_bands(frame, buckets, series) if buckets else ""])
    return _figure(
        _svg(frame, title, content, size=size),
        buckets,
        series,
        title=title,
        empty=all(t is None for t in totals),
        legend_values=[_latest(buckets, key) for key, _, _ in series],
    )


def bar_chart(buckets, series, *, title="", size="large"):
    """Bars per bucket, the series stacked, e.g. jobs finished per minute by outcome."""
    frame = FRAMES[size]
    totals = [sum(_value(b, key) or 0 for key, _, _ in series) for b in buckets]
    top = nice_ceiling(max(totals, default=0))
    slot = frame.inner_width / max(len(buckets), 1)
    width = max(slot * 0.7, 0.5)
    bars = []
    for index, bucket in enumerate(buckets):
        x = frame.left + slot * index + (slot - width) / 2
        y = frame.top + frame.inner_height
        for key, _, css in series:
            value = _value(bucket, key) or 0
            if value:
                height = frame.inner_height * value / top
                y -= height
                bars.append(
                    svg_tag(
                        '<rect class="bar c-{}" x="{}" y="{}" width="{}" height="{}"/>',
                        css,
                        x,
                        y,
                        width,
                        height,
                    )
                )
    content = join_safe([_axes(frame, buckets, top), *bars, _hover_bands(frame, buckets, series) if buckets else ""])
    return _figure(
        _svg(frame, title, content, size=size),
        buckets,
        series,
        title=title,
        empty=not any(totals),
        legend_values=[sum(_value(b, key) or 0 for b in buckets) for key, _, _ in series],
    )


def workers_bar(health):
    """A single horizontal bar of the newest snapshot's workers by state, with counts in the legend."""
    if health is None:
        return mark_safe('<div class="workers-bar empty">No snapshot yet</div>')
    counts = [(getattr(health, key), label, css) for key, label, css in WORKER_STATES]
    total = sum(count for count, _, _ in counts)
    segments = format_html_join(
        "",
        '<span class="seg c-{}" style="flex-grow:{}" title="{}: {}"></span>',
        ((css, count, label, count) for count, label, css in counts if count),
    )
    legend = format_html_join(
        "",
        '<li class="{}"><i class="sw c-{}"></i>{} <b>{}</b></li>',
        (("zero" if not count else "", css, label, count) for count, label, css in counts),
    )
    return format_html(
        '<div class="workers"><div class="workers-bar{}" role="img" aria-label="{} workers">{}</div>'
        '<ul class="legend workers-legend">{}</ul></div>',
        "" if total else " empty",
        total,
        segments,
        legend,
    )


# ---- Drawn once per snapshot: charts kept in the cache under what they were drawn from ----------------------------

SPARK_SERIES = [("jobs_in_queue", "In queue", "queue"), ("workers", "Workers", "workers")]
SPARK_WINDOW = timedelta(hours=1)
SPARK_POINTS = 30
SPARK_TITLE = "Queue depth and workers, last hour"


def aligned_window(now, window, points):
    """(bucket seconds, index of the current bucket, start): the window starts on a bucket boundary, so the same
    snapshots always fall in the same buckets and a chart drawn once stays right until its key changes."""
    size = selectors.bucket_seconds(window, points)
    slot = int(now.timestamp() // size)
    since = datetime.fromtimestamp((slot + 1) * size, tz=UTC) - window
    return size, slot, since


def spark_slot(now) -> int:
    """Which bucket the cards' charts end in: a card drawn in an earlier one has shifted since."""
    return aligned_window(now, SPARK_WINDOW, SPARK_POINTS)[1]


def overview_sparks(summaries, now) -> dict[int, SafeString]:
    """Each card's last-hour chart, keyed by its endpoint's newest snapshot and the current bucket: a chart is
    drawn once per new snapshot (or once per bucket without one), whoever asks, and read from the cache after."""
    size, slot, since = aligned_window(now, SPARK_WINDOW, SPARK_POINTS)
    keys = {
        s.endpoint.pk: f"dashboard:spark:v1:{s.endpoint.pk}:{getattr(s.endpoint, 'newest_health_id', None)}:{slot}"
        for s in summaries
    }
    found = cache.get_many(list(keys.values())) if keys else {}
    missing = [pk for pk, key in keys.items() if key not in found]
    if missing:
        series = selectors.health_series_many(missing, since=since, until=now, points=SPARK_POINTS)
        drawn = {
            keys[pk]: str(line_chart(series[pk], SPARK_SERIES, title=SPARK_TITLE, size="compact")) for pk in missing
        }
        cache.set_many(drawn, timeout=size + 60)
        found.update(drawn)
    # Our own markup, built escaped by line_chart before it went into the cache.
    return {pk: mark_safe(found[key]) for pk, key in keys.items()}  # noqa: S308


# ---- Estimated cost per day, stacked by endpoint ------------------------------------------------------------------

# Endpoints drawn in their own colour; the rest are summed as "Other endpoints".
COST_SERIES_MAX = 6


def money_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten at or above a dollar amount, fractions of a cent included."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    return next(step * exponent for step in (1, 2, 2.5, 5, 10) if step * exponent >= value * (1 - 1e-12))


def _money_label(value: float) -> str:
    return usd_text(Decimal(repr(round(value, 10))))


def _cost_series(summary):
    """(key, label, css) per drawn endpoint, most expensive first, and the endpoint ids summed as "other"."""
    priced = [line for line in summary.endpoints if line.amount > 0]
    drawn = priced[:COST_SERIES_MAX] if len(priced) <= COST_SERIES_MAX else priced[: COST_SERIES_MAX - 1]
    series = [(str(line.key), line.label, f"s{n}") for n, line in enumerate(drawn)]
    other = {line.key for line in priced[len(drawn) :]}
    if other:
        series.append(("other", "Other endpoints", "s-other"))
    return series, other


def cost_chart(summary, *, title="Estimated cost per day, by endpoint"):
    """Bars of each day's estimated cost, stacked by endpoint, with a dollar axis; one hover band per day."""
    frame = FRAMES["wide"]
    series, other = _cost_series(summary)
    by_day = {line.key: {key: Decimal(0) for key, _, _ in series} for line in summary.days}
    for (day, endpoint_id), cost in summary.by_day_endpoint.items():
        key = "other" if endpoint_id in other else str(endpoint_id)
        if day in by_day and key in by_day[day]:
            by_day[day][key] += cost
    amounts = [by_day[line.key] for line in summary.days]
    totals = [float(sum(values.values(), Decimal(0))) for values in amounts]
    top = money_ceiling(max(totals, default=0))
    slot = frame.inner_width / max(len(amounts), 1)
    width = max(slot * 0.7, 0.5)
    parts = [_money_axes(frame, summary.days, top)]
    for index, values in enumerate(amounts):
        x = frame.left + slot * index + (slot - width) / 2
        y = frame.top + frame.inner_height
        for key, _, css in series:
            height = frame.inner_height * float(values[key]) / top
            if height > 0:
                y -= height
                parts.append(
                    svg_tag('<rect class="bar c-{}" x="{}" y="{}" width="{}" height="{}"/>', css, x, y, width, height)
                )
    parts.append(_money_bands(frame, summary.days, amounts, series))
    legend_values = [sum((values[key] for values in amounts), Decimal(0)) for key, _, _ in series]
    return _money_figure(
        _svg(frame, title, join_safe(parts), size="wide"), series, legend_values, title, not any(totals)
    )


def _money_axes(frame, days, top):
    parts = []
    ticks = 4
    for i in range(ticks + 1):
        y = frame.top + frame.inner_height * (1 - i / ticks)
        parts.append(_grid_line(frame, y, _money_label(top * i / ticks)))
    slot = frame.inner_width / max(len(days), 1)
    step = max(1, math.ceil(len(days) / 8))
    for index in range(0, len(days), step):
        x = frame.left + slot * (index + 0.5)
        parts.append(
            svg_tag(
                '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                x,
                frame.height - 6,
                days[index].key.strftime("%b %d"),
            )
        )
    return join_safe(parts)


def _money_bands(frame, days, amounts, series):
    slot = frame.inner_width / max(len(days), 1)
    bands = []
    for index, (line, values) in enumerate(zip(days, amounts, strict=True)):
        spent = [f"{label} {usd_text(values[key])}" for key, label, _ in series if values[key]]
        text = f"{line.key:%a %b %d}: " + (
            ", ".join(spent) + f"; total {usd_text(line.amount)}" if spent else "no cost"
        )
        bands.append(
            svg_tag(
                '<rect class="band" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                frame.left + slot * index,
                frame.top,
                slot,
                frame.inner_height,
                text,
            )
        )
    return join_safe(bands)


def _money_figure(svg, series, legend_values, title, empty):
    legend = "".join(
        f'<li><i class="sw c-{esc(css)}"></i>{esc(label)} <b>{usd_text(value)}</b></li>'
        for (_, label, css), value in zip(series, legend_values, strict=True)
    )
    note = '<span class="chart-empty">No priced jobs in this window</span>' if empty else ""
    html = (
        f'<figure class="chart cost-chart{" is-empty" if empty else ""}">'
        f'<figcaption class="chart-title">{esc(title)}</figcaption>'
        f'<div class="chart-plot">{svg}{note}</div><ul class="legend">{legend}</ul></figure>'
    )
    return mark_safe(html)  # noqa: S308 - the SVG is built safe above, and every text here is escaped
