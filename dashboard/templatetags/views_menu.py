"""The nav's menu of saved views (the team's and the person's own), each with its count of active jobs."""

from django import template

from dashboard.views.context import menu_context

register = template.Library()


@register.inclusion_tag("dashboard/saved_views.html#menu", takes_context=True)
def saved_views_menu(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"hidden": True}
    return {**menu_context(request), "request": request}
