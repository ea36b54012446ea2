"""The CDS Hooks service's parts without a server: settings, the FHIR server allowlist, the report store, card
text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from precisionpain.errors import ConfigError


def test_cds_hooks_settings_from_file_env_and_flags(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.service.config import build_settings

    config = tmp_path / "server.yaml"
    config.write_text(
        "version: 1\ncds_hooks:\n  port: 9001\n  fhir_server_allowlist: ['https://a.example/r4/']\n"
    )
    s = build_settings({}, config_path=config, environ={})
    assert s.cds_hooks.port == 9001 and s.cds_hooks.fhir_server_allowlist == ("https://a.example/r4/",)
    env = {"PRECISIONPAIN_SERVE_CDS_HOOKS_FHIR_SERVER_ALLOWLIST": "https://b.example/, http://127.0.0.1:"}
    s = build_settings({"cds_hooks.port": 9002}, config_path=config, environ=env)
    assert s.cds_hooks.port == 9002
    assert s.cds_hooks.fhir_server_allowlist == ("https://b.example/", "http://127.0.0.1:")
    with pytest.raises(ConfigError, match=r"cds_hooks\.fhir_server_allowlist"):
        build_settings({"cds_hooks.fhir_server_allowlist": "ftp://nope"}, config_path=config, environ={})
    # the FHIR bearer token travels to these servers: https only, plain http on this machine alone
    with pytest.raises(ConfigError, match=r"cds_hooks\.fhir_server_allowlist"):
        build_settings(
            {"cds_hooks.fhir_server_allowlist": "http://fhir.example.org/r4/"}, config_path=config, environ={}
        )
    for local in ("http://127.0.0.1:", "http://localhost:8080/fhir/", "http://[::1]:9000/"):
        allowed = build_settings({"cds_hooks.fhir_server_allowlist": local}, config_path=config, environ={})
        assert allowed.cds_hooks.fhir_server_allowlist == (local,)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://fhir.example.org/r4/", True),
        ("https://fhir.example.org/r4/Patient/1", True),
        ("https://fhir.example.org:8443/r4/", True),
        ("https://fhir.example.org.evil.net/r4/", False),
        ("https://user@fhir.example.org/r4/", False),
        ("http://fhir.example.org/r4/", False),
        ("http://127.0.0.1:8080/fhir/", True),
        ("http://127.0.0.10/fhir/", False),
        ("file:///etc/passwd", False),
    ],
)
def test_fhir_server_allowlist(url: str, allowed: bool) -> None:
    from precisionpain.cdshooks.fhir_fetch import fhir_server_allowed

    assert fhir_server_allowed(url, ("https://fhir.example.org", "http://127.0.0.1:")) is allowed


def test_no_allowlist_never_fetches() -> None:
    from precisionpain.cdshooks.fhir_fetch import FhirFetcher

    result = FhirFetcher((), timeout_s=1, max_bytes=1024).fetch(
        "https://fhir.example.org/r4", "t", "Patient/1"
    )
    assert result.pages == () and "allowlist" in result.problem


def test_report_store_expires_and_keeps_a_bounded_number() -> None:
    from precisionpain.cdshooks.hooks import ReportStore

    now = [0.0]
    store = ReportStore(ttl_s=10, max_kept=2, clock=lambda: now[0])
    a = store.put("a", None, None)  # type: ignore[arg-type]
    b = store.put("b", None, None)  # type: ignore[arg-type]
    assert len({a, b}) == 2 and len(a) >= 22
    c = store.put("c", None, None)  # type: ignore[arg-type]
    assert store.get(a) is None and store.get(b) is not None  # the oldest dropped
    now[0] = 10.5
    assert store.get(b) is None and store.get(c) is None  # expired


def test_summary_fits_and_markdown_is_escaped() -> None:
    from precisionpain.cdshooks.cards import fit, md

    long = "Best-ranked options: " + ", ".join(f"Option number {i} 45%" for i in range(20))
    cut = fit(long)
    assert len(cut) < 140 and cut.endswith("…") and long.startswith(cut[:-1])
    exactly_140 = "x" * 130 + " 123456789"
    assert len(fit(exactly_140)) < 140  # the spec's summary is "<140-character"
    assert md("HLA-B*15:02 | <b>x</b>\n[y](z)") == "HLA-B\\*15:02 \\| \\<b\\>x\\</b\\> \\[y\\](z)"


@contextmanager
def trickling_server(body_bytes: int, every_s: float) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers 200 and then sends its body one byte every ``every_s``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(body_bytes))
            self.end_headers()
            try:
                for _ in range(body_bytes):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(every_s)
            except OSError:  # the client gave up
                pass

        def log_message(self, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_fhir_server_that_trickles_its_answer_is_cut_at_the_timeout() -> None:
    """fhir_fetch_timeout_s bounds the whole answer, not each read: a server sending a byte now and then (each
    read well within the timeout) is given up on once the timeout has passed."""
    from precisionpain.cdshooks.fhir_fetch import FhirFetcher

    fetcher = FhirFetcher(("http://127.0.0.1:",), timeout_s=1.0, max_bytes=1 << 20)
    with trickling_server(body_bytes=60, every_s=0.1) as base:  # 6 s for the whole body
        started = time.monotonic()
        result = fetcher.fetch(base, "t", "Patient/p1")
        elapsed = time.monotonic() - started
    assert result.pages == () and "within 1 s" in result.problem
    assert elapsed < 4.0  # cut near 1 s, not after the 6 s the body takes


def test_client_jwks_are_public_asymmetric_keys_with_kids(tmp_path: Any, ehr: Any) -> None:
    import json

    from precisionpain.cdshooks.auth import load_client_jwks
    from precisionpain.service.config import build_settings

    good = ehr.jwks()["keys"][0]
    private = {**good, "kid": "private", "d": "c2VjcmV0"}
    shared = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    no_kid = {k: v for k, v in good.items() if k != "kid"}
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({ehr.iss: {"keys": [good, private, shared, no_kid]}}))
    with pytest.raises(ConfigError) as caught:
        load_client_jwks(path)
    assert [v.path for v in caught.value.violations] == [
        "cds_hooks.client_jwks_file issuer 1 key 2",  # a private key has no place here
        "cds_hooks.client_jwks_file issuer 1 key 3",  # a shared secret: CDS Hooks forbids symmetric algorithms
        "cds_hooks.client_jwks_file issuer 1 key 4",  # no kid
    ]
    path.write_text(json.dumps({ehr.iss: {"keys": [good]}}))
    assert list(load_client_jwks(path)[ehr.iss]) == [ehr.kid]
    with pytest.raises(ConfigError, match="public_base_url"):
        build_settings({"cds_hooks.client_jwks_file": str(path)}, config_path=None, environ={})
