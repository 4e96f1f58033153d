"""The one free_port for scripts, benchmarks and tests (import it as `scripts.ports`, or as `ports` from a script
in this folder)."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it; a race with another process that
    binds it first is possible but rare, and the caller's bind then fails loudly)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
