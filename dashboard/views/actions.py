"""What operators do: submit, track, cancel, retry, run again. Each calls a service, which audits it."""

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from dashboard.forms import SubmitForm, TrackForm, submit_initial
from jobs import selectors, services

from .common import client_ip, operator_required, redirect_page, render_page, wants_partial
from .context import job_or_404, live_context


def submit_too_big(request, limit=None):
    """The body was over the submit limit (REQUEST_BODY_LIMITS): say so without replacing the form or what was
    typed; htmx puts it above the form."""
    context = {"message": "That input is too large for this server to accept; RunPod takes at most 10 MB (/run)."}
    response = render(request, "dashboard/submit.html#too_big", context, status=413)
    return reswap(retarget(response, "#submit-errors"), "innerHTML") if wants_partial(request) else response


def _preselected_endpoint(request):
    pk = request.GET.get("endpoint", "")
    return selectors.endpoint_enabled(int(pk)) if pk.isdigit() else None


def edit_notes(job) -> list[str]:
    """What edit and run cannot carry over from a job, said before anything is submitted."""
    notes = []
    if not job.endpoint.enabled:
        try:
            services.endpoint_require_enabled(job.endpoint, "nothing can be submitted to it")
        except services.InputError as exc:
            notes.append(f"{exc} Pick another endpoint to run this input there.")
    if job.s3_config:
        notes.append("Its s3Config is not copied (it holds secrets and is never shown): Run again reuses it.")
    return notes


def _edit_context(request) -> dict:
    """Edit and run (?from=<job>): the form filled in from that job, which the new job will record as its parent."""
    pk = request.GET.get("from", "")
    if not pk:
        return {"form": SubmitForm(endpoint=_preselected_endpoint(request))}
    job = job_or_404(int(pk) if pk.isascii() and pk.isdigit() and len(pk) <= 18 else 0)
    return {"form": SubmitForm(initial=submit_initial(job)), "parent_job": job, "edit_notes": edit_notes(job)}


@require_http_methods(["GET", "POST"])
@operator_required("submit")
def job_submit(request):
    if request.method == "GET":
        return render_page(request, "dashboard/submit.html", {**_edit_context(request), "track_form": TrackForm()})
    try:
        form = SubmitForm(request.POST)
    except RequestDataTooBig:
        return submit_too_big(request)
    if form.is_valid():
        try:
            job = services.job_submit(**form.submission(), user=request.user, remote_addr=client_ip(request))
        except services.InputError as exc:
            form.add_error(None, str(exc))
        else:
            if job.parent_id:
                messages.success(request, f"Submitted as a new attempt of job {form.cleaned_data['parent']}.")
            return redirect_page(request, job.get_absolute_url())
    # The endpoint page's copy of the form hides the endpoint choice; keep it hidden when it comes back.
    context = {
        "form": form,
        "track_form": TrackForm(),
        "compact": request.POST.get("compact") == "1",
        "parent_job": form.cleaned_data.get("parent") if hasattr(form, "cleaned_data") else None,
    }
    return render_page(request, "dashboard/submit.html", context, partial="form", status=422)


@require_POST
@operator_required("track")
def job_track(request):
    form = TrackForm(request.POST)
    if form.is_valid():
        try:
            job = services.job_track(
                endpoint=form.cleaned_data["endpoint"],
                runpod_id=form.cleaned_data["runpod_id"],
                streaming=form.cleaned_data["streaming"],
                user=request.user,
                remote_addr=client_ip(request),
            )
        except services.InputError as exc:
            form.add_error("runpod_id", str(exc))
        else:
            return redirect_page(request, job.get_absolute_url())
    return render_page(request, "dashboard/submit.html", {"track_form": form}, partial="track", status=422)


def _after_action(request, pk, *, notice="", error="", status=200):
    """The job's live part with the outcome on top (htmx), or the page with a message."""
    if wants_partial(request):
        job = job_or_404(pk)
        context = live_context(job, notice=notice, error=error)
        return render(request, "dashboard/job.html#live_update", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("job_detail", pk=pk)


def _error_status(exc) -> int:
    """409 when the job is in the wrong state for the action, 502 when RunPod failed us."""
    return 409 if isinstance(exc, services.InputError) else 502


def _act(request, pk, service, notice):
    job = job_or_404(pk)
    try:
        service(job=job, user=request.user, remote_addr=client_ip(request))
    except services.ActionError as exc:
        return _after_action(request, pk, error=str(exc), status=_error_status(exc))
    return _after_action(request, pk, notice=notice)


@require_POST
@operator_required("cancel")
def job_cancel(request, pk):
    return _act(request, pk, services.job_cancel, "Cancelled. Its final status will be fetched in a moment.")


@require_POST
@operator_required("retry")
def job_retry(request, pk):
    return _act(request, pk, services.job_retry, "Sent back to the queue; the previous attempt is in the audit log.")


@require_POST
@operator_required("submit")
def job_run_again(request, pk):
    job = job_or_404(pk)
    try:
        new_job = services.job_run_again(job=job, user=request.user, remote_addr=client_ip(request))
    except services.ActionError as exc:
        return _after_action(request, pk, error=str(exc), status=_error_status(exc))
    messages.success(request, f"A new job with the same input as job {job}.")
    return redirect_page(request, new_job.get_absolute_url())
