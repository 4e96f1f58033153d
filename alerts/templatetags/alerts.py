"""Alert badges for the overview and endpoint pages, the stall banner for every page."""

from django import template

from alerts import selectors, services

register = template.Library()


@register.inclusion_tag("alerts/_badge.html", takes_context=True)
def alert_badge(context, endpoint=None, link=True):
    """Firing alerts of one endpoint (or, with none given, of everything): a count that links to them."""
    # Read once per request: the overview shows a badge per endpoint card.
    request = context.get("request")
    grouped = getattr(request, "_alerts_firing", None)
    if grouped is None:
        grouped = selectors.firing_by_endpoint()
        if request is not None:
            request._alerts_firing = grouped
    alerts = grouped.get(endpoint.pk, []) if endpoint is not None else [a for rows in grouped.values() for a in rows]
    return {"alerts": alerts, "endpoint": endpoint, "link": link}


@register.inclusion_tag("alerts/_diagnosis.html")
def endpoint_diagnosis(endpoint):
    """The firing alerts of an endpoint with their sentences (the stuck-queue diagnosis among them)."""
    return {"alerts": selectors.alerts_firing(endpoint_id=endpoint.pk), "top": selectors.top_error_group(endpoint.pk)}


@register.inclusion_tag("alerts/_banner.html")
def polling_banner():
    return {"stall": services.polling_stall()}
