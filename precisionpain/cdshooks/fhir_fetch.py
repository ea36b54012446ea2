"""Fetching what a hook request's prefetch does not carry, from its ``fhirServer`` with its ``fhirAuthorization``.

Only servers under a prefix of ``cds_hooks.fhir_server_allowlist`` are called (an empty list: never), so a request
cannot make the service call an address of its choosing. Each answer is bounded (``max_fhir_response_bytes``), all
the fetching of one hook call must be done within ``fhir_fetch_timeout_s`` (a server that trickles its answer is
given up on), search pages are followed only on the same server and only so far, and every failure is
reported (the hook call answers 412 naming the prefetch key), never with a value. The bearer token is
sent to the FHIR server only and never logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

#: Search pages followed at most (Bundle.link "next") per query.
MAX_PAGES = 10


def fhir_server_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Whether ``url`` lies under one of the prefixes. A prefix that stops at a host name only matches that host
    (``https://fhir.example.org`` does not admit ``https://fhir.example.org.evil.net``); no user info is allowed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    for prefix in allowlist:
        if not url.startswith(prefix):
            continue
        rest = url[len(prefix) :]
        if prefix.endswith(("/", ":")) or not rest or rest[0] in "/:":
            return True
    return False


@dataclass(frozen=True)
class FetchResult:
    """The JSON bundles (or resource) fetched, or why nothing was (a message for a data warning)."""

    pages: tuple[Any, ...] = ()
    problem: str = ""


class FhirFetcher:
    """GETs FHIR queries under an allowed ``fhirServer``; see the module docstring."""

    def __init__(self, allowlist: tuple[str, ...], *, timeout_s: float, max_bytes: int) -> None:
        self.allowlist = allowlist
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def refusal(self, server: str | None) -> str:
        """Why nothing can be fetched from ``server`` ("" when it may be called)."""
        if not server:
            return "no fhirServer was given to fetch it from"
        if not fhir_server_allowed(server.rstrip("/") + "/", self.allowlist):
            return "its fhirServer is not in cds_hooks.fhir_server_allowlist"
        return ""

    def deadline(self) -> float:
        """The moment (``time.monotonic``) fetching must be done by when it starts now."""
        return time.monotonic() + self.timeout_s

    def fetch(
        self, server: str | None, token: str | None, query: str, deadline: float | None = None
    ) -> FetchResult:
        """``query`` (``Patient/123``, ``Observation?patient=123&...``) from ``server``, following next pages, all
        of it by ``deadline`` (default: ``timeout_s`` from now); a server still sending then is given up on."""
        refused = self.refusal(server)
        if refused or server is None:
            return FetchResult(problem=refused)
        base = server.rstrip("/") + "/"
        import httpx

        until = self.deadline() if deadline is None else deadline
        late = f"the FHIR server did not answer within {self.timeout_s:g} s (cds_hooks.fhir_fetch_timeout_s)"
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        pages: list[Any] = []
        url: str | None = base + query
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False, headers=headers) as client:
                while url is not None and len(pages) < MAX_PAGES:
                    data, problem = self._get(client, url, until, late)
                    if problem:
                        return FetchResult(tuple(pages), problem)
                    pages.append(data)
                    url = self._next(data, base)
        except httpx.TimeoutException:
            return FetchResult(tuple(pages), late)
        except httpx.HTTPError as exc:
            return FetchResult(tuple(pages), f"the FHIR server could not be reached ({type(exc).__name__})")
        return FetchResult(tuple(pages))

    def _get(self, client: Any, url: str, until: float, late: str) -> tuple[Any, str]:
        left = until - time.monotonic()
        if left <= 0:
            return None, late
        # each read also waits at most what is left, so a trickle of bytes cannot outlast the deadline by much
        with client.stream("GET", url, timeout=left) as response:
            if response.status_code != 200:
                return None, f"the FHIR server answered HTTP {response.status_code}"
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                return None, f"the FHIR server's answer is larger than {self.max_bytes:,} bytes"
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    return None, f"the FHIR server's answer is larger than {self.max_bytes:,} bytes"
                if time.monotonic() > until:
                    return None, late
        try:
            return json.loads(bytes(body)), ""
        except (ValueError, RecursionError):
            return None, "the FHIR server's answer is not JSON"

    def _next(self, data: Any, base: str) -> str | None:
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            return None
        for link in data.get("link") or ():
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                nxt = str(link["url"])
                return nxt if nxt.startswith(base) and fhir_server_allowed(nxt, self.allowlist) else None
        return None


def fill_template(template: str, patient_id: str, user_id: str | None = None) -> str:
    """A prefetch template with its tokens filled (the ids are FHIR ids, percent-encoded all the same)."""
    out = template.replace("{{context.patientId}}", quote(patient_id, safe=""))
    if user_id is not None:
        out = out.replace("{{context.userId}}", quote(user_id, safe="/"))
    return out
