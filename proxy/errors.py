"""The answers the proxy gives itself, in RunPod's error shape: `{"error": "..."}` with RunPod's status codes."""


class ProxyError(Exception):
    """Answer the caller with this status and message (and headers, such as Retry-After) instead of forwarding."""

    def __init__(self, status: int, message: str, *, headers: dict | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body = body if body is not None else {"error": message}
