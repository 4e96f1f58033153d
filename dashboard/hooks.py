"""Inbound webhooks from RunPod: outside login and CSRF (RunPod cannot log in), guarded by a secret URL token."""

import json

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs.models import Endpoint
from jobs.services.webhooks import WebhookError, webhook_receive, webhook_token_valid


@csrf_exempt
@login_not_required
@require_POST
def runpod_webhook(request, endpoint_pk, token):
    endpoint = get_object_or_404(Endpoint, pk=endpoint_pk, enabled=True)
    if not webhook_token_valid(endpoint, token):
        raise Http404("unknown webhook")
    # Bodies over the limit were answered by Content-Length already (RequestBodyLimitMiddleware).
    try:
        payload = json.loads(request.body)
        job = webhook_receive(endpoint=endpoint, payload=payload)
    except (ValueError, WebhookError) as exc:
        return JsonResponse({"error": str(exc) or "bad payload"}, status=400)
    except RecursionError:
        return JsonResponse({"error": "payload nested too deeply"}, status=400)
    return JsonResponse({"ok": True, "job": job.pk, "status": job.status})
