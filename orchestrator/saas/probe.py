"""Does the SaaS host answer at all? One bounded TCP connect, for the readiness machine's Unreachable state.

Stdlib only (no aiohttp, no TLS handshake): the question is "is anything listening there", and the
answer must come within the budget whatever the network does. ``socket.create_connection`` alone cannot
promise that: name resolution ignores socket timeouts, and each resolved address gets the full timeout.
So resolution runs in a daemon thread we stop waiting for at the deadline, and the addresses share
what is left of the budget. Imported only on remote paths.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


# Why a probe failed (``probe``'s answer; "" when the host answered): each has its own catalog wording.
REFUSED, NO_NAME, TIMEOUT = "refused", "no_name", "timeout"


def host_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to the URL's host and port opens within ``timeout`` seconds (one try)."""
    return probe(url, timeout) == ""


def probe(url: str, timeout: float = 2.0) -> str:
    """Open a TCP connection to the URL's host and port (one try, ``timeout`` seconds in all): "" when it
    opened, else why not: ``refused`` (every address refused: nothing listens there), ``no_name`` (the name
    does not resolve) or ``timeout`` (no answer in time, or nothing better to say)."""
    deadline = time.monotonic() + timeout
    try:
        parts = urlsplit(via_proxy(url.strip()))
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number or out of range
        return TIMEOUT
    if not host or port is None:
        return TIMEOUT
    addresses, resolved = _resolve(host, port, deadline)
    if not addresses:
        return NO_NAME if resolved else TIMEOUT
    refused = 0
    for family, kind, proto, _, address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(remaining)
                sock.connect(address)
                return ""
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            continue
    return REFUSED if refused == len(addresses) else TIMEOUT


def via_proxy(url: str) -> str:
    """The proxy a request to ``url`` goes through (``HTTPS_PROXY`` / ``HTTP_PROXY``, unless ``NO_PROXY``
    names the host), else ``url`` itself: behind a proxy, "does the host answer" means "does the proxy
    answer", since the client will talk to nothing else (aiohttp's ``trust_env`` reads the same variables)."""
    import urllib.request

    try:
        parts = urlsplit(url)
        proxies = urllib.request.getproxies_environment()
        proxy = proxies.get(parts.scheme.lower())
        # proxy_bypass_environment is public in CPython but missing from typeshed's stubs
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not proxy or not parts.hostname or bypass(parts.netloc, proxies):
            return url
    except ValueError:
        return url
    return proxy if "://" in proxy else f"http://{proxy}"


def _resolve(host: str, port: int, deadline: float) -> tuple[list[tuple[Any, ...]], bool]:
    """``getaddrinfo`` bounded by the deadline (a hung resolver must not hang the CLI): the addresses, and
    whether resolution finished in time (no addresses and finished: the name does not resolve)."""
    found: list[tuple[Any, ...]] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):  # unknown host, IDNA trouble: no addresses
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))

    worker = threading.Thread(target=lookup, name="spec-kitty-probe-dns", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    finished = not worker.is_alive()
    return (list(found) if finished else []), finished
