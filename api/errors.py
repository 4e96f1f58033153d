"""Every API error is JSON: {"code": a word for programs, "message": a sentence for people, "field": optional}.

Services raise their own errors (InputError, ActionError); this module maps them, and the library's own
(validation, authentication, unparsable bodies), onto one shape and the fitting status code.
"""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja.errors import AuthenticationError, HttpError, ValidationError

from jobs import runpod, services


class ApiError(Exception):
    """An error with its status, code and sentence; headers (like Retry-After) go on the response."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            "rate_limited",
            f"Too many requests for this token; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def body(code, message, field=None, **extra) -> dict:
    data = {"code": code, "message": message, **extra}
    if field:
        data["field"] = field
    return data


def from_action_error(exc: services.ActionError, *, wrong_state: bool = False) -> ApiError:
    """A service's refusal: bad input is 422 (409 when it is the job's state that forbids the action); RunPod not
    knowing the job is 409, its rate limiting 429 with its Retry-After, any other RunPod failure 502."""
    field = getattr(exc, "field", None)
    if isinstance(exc, services.InputError):
        if wrong_state:
            return ApiError(409, "conflict", str(exc), field=field)
        return ApiError(422, "invalid", str(exc), field=field)
    cause = exc.__cause__
    if isinstance(cause, runpod.NotFoundError):
        # The job is ours but RunPod has forgotten it (or never had it): the action conflicts with that state.
        return ApiError(409, "runpod_not_found", str(exc))
    if isinstance(cause, runpod.RateLimitedError):
        wait = max(1, round(cause.retry_after or 1))
        return ApiError(429, "runpod_rate_limited", str(exc), headers={"Retry-After": str(wait)})
    return ApiError(502, "runpod_error", str(exc))


def _validation_sentence(errors) -> tuple[str, str | None]:
    """The first problem as a sentence, and the field it belongs to."""
    if not errors:
        return "The request is not valid.", None
    first = errors[0]
    location = [
        str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header", "payload")
    ]
    field = ".".join(location) or None
    message = first.get("msg", "is not valid")
    return (f"{field}: {message}." if field else f"{message}."), field


TOO_LARGE = "The request body is larger than this server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."


def install(api):
    """Register the handlers on the NinjaAPI."""

    def respond(request, data, status, headers=None):
        response = api.create_response(request, data, status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def api_error(request, exc):
        return respond(request, body(exc.code, exc.message, exc.field), exc.status, exc.headers)

    @api.exception_handler(ValidationError)
    def validation_error(request, exc):
        message, field = _validation_sentence(exc.errors)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors]
        return respond(request, body("invalid", message, field, errors=errors), 422)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request, exc):
        message = "Send a valid API token as 'Authorization: Bearer <token>' (make one on the API tokens page)."
        response = respond(request, body("unauthenticated", message), 401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return respond(request, body("not_found", str(exc) or "Not found."), 404)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return respond(request, body("too_large", TOO_LARGE), 413)

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        if isinstance(exc.__cause__, RequestDataTooBig):
            return respond(request, body("too_large", TOO_LARGE), 413)
        if exc.status_code == 400:
            return respond(request, body("bad_request", "The request body is not valid JSON."), 400)
        return respond(request, body("error", str(exc)), exc.status_code)
