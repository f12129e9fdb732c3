"""The transport against hostile servers: every hang ends, every refusal is one clear ApiError.

Servers are small raw ones on 127.0.0.1 (``tests/_servers.py``) that drip, never end, bomb, lie
about TLS or redirect where audframe will not go; requests-mock stands in for a remote origin.
Retries wait on a clock that does not tick (conftest); deadlines are real, and each test bounds
how long a load may take (never how fast it must be).
"""

from __future__ import annotations

import gzip
import inspect
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import audframe as af
from audframe import http as _http
from audframe.cli import main as cli_main
from audframe.errors import ApiError, ResponseError
from audframe.http import deadline as _deadline

from ._servers import EMPTY, Request, Server, answer, empty_inventory, response, serve
from .test_secrets import API_KEY, SECRET, TENANT, THRIVE_API, UNLESS_API

__all__ = ["serve"]  # the fixture, imported for the tests below

EMAIL = "me@example.com"
SOURCES = ["thrive", "unless"]
REMOTE_ROOT = {"thrive": "https://public.api.learn.link", "unless": "https://api.unless.com"}


def load(source: str, url: str, **kwargs: Any) -> Any:
    """Load ``source`` from the API root ``url`` (a server's root), quietly."""
    kwargs.setdefault("progress", False)
    if source == "thrive":
        return af.load_thrive_audiences(TENANT, SECRET, base_url=f"{url}/rest/v1", **kwargs)
    return af.load_unless_audiences(
        API_KEY, EMAIL, "acc-1", "w1", states="live", base_url=url, **kwargs
    )


def ends_within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()``'s result or raised error, asserting it came back within ``seconds``."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["result"] = fn()
        except BaseException as exc:
            done["result"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return done["result"]


# ---- 7. timeout is a deadline for the whole response ---------------------------------------------


def drip_body(conn: socket.socket, request: Request) -> bool:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    while not request.stopped.wait(0.3):
        conn.sendall(b" ")
    return False


def drip_headers(conn: socket.socket, request: Request) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for i in range(1000):
        if request.stopped.wait(0.3):
            break
        conn.sendall(f"X-Drip-{i}: v\r\n".encode())
    return False


def endless_chunks(conn: socket.socket, request: Request) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
    while not request.stopped.wait(0.01):
        conn.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")


HANGS = {"dripped-body": drip_body, "dripped-headers": drip_headers, "endless-body": endless_chunks}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("hang", list(HANGS))
def test_a_hanging_response_ends_at_the_deadline_and_is_retried(serve, source, hang):
    server = serve(HANGS[hang])
    started = time.perf_counter()
    # Drips every 0.3 s: never 0.5 s without a byte, so requests' per-read timeout never fires.
    error = ends_within(15, lambda: load(source, server.url, timeout=0.5, max_retries=1))
    elapsed = time.perf_counter() - started
    assert isinstance(error, ApiError), error
    assert "timeout (no whole answer within 0.5 s)" in str(error)
    assert "gave up after 2 tries" in str(error)
    assert len(server.requests) == 2  # retried like any timeout
    assert elapsed < 6  # two tries of about 0.5 s each, whatever the server does


def test_keep_alive_still_reuses_one_connection(serve):
    def pages(conn: socket.socket, request: Request) -> bool:
        page = int(request.query["page"])
        record = {"id": f"{page:024x}", "name": f"n{page}", "category": "structure"}
        body = {"results": [record], "pagination": {"totalResults": 5, "totalPages": 5}}
        conn.sendall(response(200, body))
        return True

    server = serve(pages)
    df = load("thrive", server.url, per_page=1, max_workers=1)
    assert len(df) == 5
    assert len(server.requests) == 5
    assert server.connections == 1


# ---- 8. max_body_bytes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GiB of spaces: one member, 1,024 times over."""
    return gzip.compress(b" " * 2**20, compresslevel=9) * 1024


_BOMB_LOAD = """
import json, resource, sys
import audframe as af
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    af.load_unless_audiences("unless-KEY-789", "me@example.com", "acc-1", "w1", states="live",
                             base_url=sys.argv[1], max_body_bytes=32 * 2**20, progress=False)
    error = None
except af.ApiError as exc:
    error = [type(exc).__name__, str(exc)]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before, "error": error}))
"""


def test_a_gzip_bomb_is_refused_while_read_in_little_memory(serve, gzip_bomb):
    assert len(gzip_bomb) < 2 * 2**20
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    server = serve(answer(200, gzip_bomb, headers=headers))
    # In a fresh interpreter, so its peak memory is this load's alone.
    done = subprocess.run(
        [sys.executable, "-c", _BOMB_LOAD, server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    name, message = result["error"]
    assert name == "ResponseError"
    assert "max_body_bytes (33,554,432 bytes once decompressed)" in message
    assert "max_body_bytes=" in message
    assert "--max-body-bytes" in message
    assert result["grew_kib"] < 256 * 1024  # 1 GiB inflated; a few times the 32 MiB cap at most
    assert len(server.requests) == 1  # not retried: the same request gets the same body


@pytest.mark.parametrize("source", SOURCES)
def test_a_body_over_max_body_bytes_is_a_response_error_not_retried(serve, source):
    server = serve(answer(200, b" " * 5000))
    with pytest.raises(ResponseError, match="larger than max_body_bytes") as info:
        load(source, server.url, max_body_bytes=4096, max_retries=3)
    assert "(4,096 bytes once decompressed)" in str(info.value)
    assert info.value.status == 200
    assert len(server.requests) == 1


def test_max_body_bytes_defaults_to_one_gib_everywhere():
    assert _http.MAX_BODY_BYTES == 2**30
    for loader in (af.load_thrive_audiences, af.load_unless_audiences):
        assert inspect.signature(loader).parameters["max_body_bytes"].default == 2**30
    client = _http.HttpClient(
        "http://127.0.0.1:9", source="unless", auth=_http_auth(), max_workers=1
    )
    with client:
        assert client.max_body_bytes == 2**30
    with pytest.raises(af.InputError, match="max_body_bytes"):
        _http.HttpClient("http://127.0.0.1:9", source="unless", auth=_http_auth(), max_body_bytes=0)


def _http_auth() -> Any:
    from audframe.http.auth import HeaderAuth

    return HeaderAuth({}, hint="")


def test_cli_max_body_bytes_reaches_the_loader(serve, monkeypatch, tmp_path, capsys):
    server = serve(answer(200, b" " * 5000))
    for name, value in {
        "UNLESS_API_KEY": API_KEY,
        "UNLESS_USER_EMAIL": EMAIL,
        "UNLESS_ACCOUNT_ID": "acc-1",
        "UNLESS_WEBSITE_ID": "w1",
    }.items():
        monkeypatch.setenv(name, value)
    argv = ["unless", "--out", str(tmp_path), "--base-url", server.url, "--max-body-bytes", "4096"]
    assert cli_main(argv) == 3
    err = capsys.readouterr().err
    assert "max_body_bytes (4,096 bytes" in err
    assert err.count("\n") == 1


# ---- 9. a hung endpoint is not silent ------------------------------------------------------------


def test_retries_and_backoff_show_on_the_status_line_and_in_the_log(requests_mock, capsys, caplog):
    caplog.set_level(logging.INFO, logger="audframe")
    body = EMPTY["thrive"]
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        [
            {"status_code": 503, "text": "busy"},
            {"status_code": 503, "text": "busy"},
            {"json": body},
        ],
    )
    af.load_thrive_audiences(TENANT, SECRET, progress=True)
    err = capsys.readouterr().err
    assert "Thrive audiences: page 1: HTTP 503, retry 1 in " in err
    assert "Thrive audiences: page 1: HTTP 503, retry 2 in " in err
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert all(r.levelno == logging.INFO for r in caplog.records if "retry" in r.getMessage())


@pytest.mark.parametrize("source", SOURCES)
def test_a_request_waiting_long_says_so(serve, monkeypatch, capsys, caplog, source):
    caplog.set_level(logging.INFO, logger="audframe")
    monkeypatch.setattr(_deadline, "WAITING_NOTICE", 0.5)

    def slow(conn: socket.socket, request: Request) -> bool:
        time.sleep(1.4)
        return empty_inventory(conn, request)

    server = serve(slow)
    load(source, server.url, progress=True, timeout=20)
    err = capsys.readouterr().err
    label = "page 1" if source == "thrive" else "website w1"
    desc = "Thrive audiences" if source == "thrive" else "Unless audiences"
    assert f"{desc}: waiting 1 s for {label}" in err
    assert any(f"{label}: still waiting after" in r.getMessage() for r in caplog.records)


def test_status_lines_are_silent_without_progress(requests_mock, capsys):
    requests_mock.get(f"{THRIVE_API}/audiences", [{"status_code": 503}, {"json": EMPTY["thrive"]}])
    af.load_thrive_audiences(TENANT, SECRET, progress=False)
    assert capsys.readouterr().err == ""


# ---- 11. Retry-After -----------------------------------------------------------------------------

ABSURD_RETRY_AFTER = [
    "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    "-5",
    "nan",
    "inf",
    "-inf",
    "1e300",
    "86401",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "soon",
]


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER)
def test_an_absurd_retry_after_is_normal_backoff(value, monkeypatch):
    assert _http.parse_retry_after(value) is None
    monkeypatch.setattr(_http.retry.random, "uniform", lambda low, high: high)
    assert _http.Retry().delay(2, value) == 2.0  # the backoff ceiling for retry 3, not "now"


def test_sane_retry_after_values_are_kept():
    assert _http.parse_retry_after("7") == 7.0
    assert _http.parse_retry_after("0") == 0.0
    assert _http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: now
    assert _http.Retry().delay(0, "3600") == 120.0  # capped


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER[:3])
def test_a_load_meeting_an_absurd_retry_after_backs_off_and_goes_on(
    requests_mock, monkeypatch, waits, value
):
    monkeypatch.setattr(_http.retry.random, "uniform", lambda low, high: high)
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        [{"status_code": 429, "headers": {"Retry-After": value}}, {"json": EMPTY["thrive"]}],
    )
    af.load_thrive_audiences(TENANT, SECRET, progress=False)
    assert waits == [0.5]  # the first backoff's ceiling: not "retry at once"


# ---- 12. a malformed Location --------------------------------------------------------------------

BAD_LOCATIONS = {
    "ipv6-unclosed": "http://[::1/x",
    "port-99999": "https://public.api.learn.link:99999/x",
    "port-abc": "https://public.api.learn.link:abc/x",
    "empty-host": "https:///x",
    "ftp": "ftp://public.api.learn.link/x",
    "javascript": "javascript:alert(1)",
    "escape-sequence": "ftp://x/\x1b[2J\x1b]0;pwned\x07",
}


@pytest.mark.parametrize("location", list(BAD_LOCATIONS.values()), ids=list(BAD_LOCATIONS))
def test_a_malformed_location_is_one_api_error_naming_it(requests_mock, location):
    requests_mock.get(f"{THRIVE_API}/audiences", status_code=302, headers={"Location": location})
    with pytest.raises(ApiError) as info:
        af.load_thrive_audiences(TENANT, SECRET, progress=False)
    text = str(info.value)
    assert not isinstance(info.value, af.InputError)
    assert info.value.endpoint.startswith(f"GET {THRIVE_API}/audiences?page=1")
    assert text.startswith(f"GET {THRIVE_API}/audiences?page=1")
    assert "HTTP 302: redirected to " in text
    assert "\x1b" not in text
    assert "\x07" not in text
    assert requests_mock.call_count == 1


def test_the_cli_exits_3_for_a_redirect_audframe_will_not_follow(
    requests_mock, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("THRIVE_TENANT_ID", TENANT)
    monkeypatch.setenv("THRIVE_API_SECRET", SECRET)
    requests_mock.get(
        f"{THRIVE_API}/audiences", status_code=302, headers={"Location": "http://[::1/x"}
    )
    assert cli_main(["thrive", "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("audframe: error: GET ")
    assert "http://[::1/x" in err
    assert err.count("\n") == 1


# ---- 17. TLS that does not verify; a name that does not resolve ----------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made by the openssl binary."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=audframe"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(serve, certificate) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return serve(empty_inventory, tls=context)


@pytest.mark.parametrize("source", SOURCES)
def test_a_certificate_that_does_not_verify_is_not_retried(tls_server, waits, source):
    with pytest.raises(ApiError) as info:
        load(source, tls_server.url, max_retries=3)
    text = str(info.value)
    assert "TLS certificate did not verify (self" in text  # self-signed, in OpenSSL's words
    assert "REQUESTS_CA_BUNDLE" in text
    assert "verify=" in text
    assert tls_server.connections == 1
    assert waits == []


def test_the_ca_bundle_the_error_names_is_the_way_in(tls_server, certificate):
    with requests.Session() as session:
        session.verify = str(certificate[0])
        df = load("thrive", tls_server.url, session=session)
    assert len(df) == 0
    assert len(tls_server.requests) == 1


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names looked up. ``.invalid`` never resolves (RFC 6761): answered here, with no DNS."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("source", SOURCES)
def test_a_name_that_does_not_resolve_is_retried_at_most_once(resolver, waits, source):
    with pytest.raises(ApiError) as info:
        load(source, "https://api.audframe.invalid", max_retries=5)
    text = str(info.value)
    assert "no address for the host name api.audframe.invalid (it does not resolve)" in text
    assert "Check base_url (or region)" in text
    assert resolver.count("api.audframe.invalid") == 2
    assert len(waits) == 1


# ---- 18. loopback only from loopback -------------------------------------------------------------

LOOPBACK_TARGETS = [
    "http://127.0.0.1:8080/admin",
    "http://127.9.9.9/x",
    "https://127.0.0.1/x",
    "http://localhost:6379/",
    "https://api.localhost/x",
    "http://[::1]:8080/x",
]


@pytest.mark.parametrize("target", LOOPBACK_TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_a_remote_host_cannot_redirect_to_loopback(requests_mock, target, source):
    url = f"{THRIVE_API}/audiences" if source == "thrive" else UNLESS_API
    requests_mock.get(url, status_code=302, headers={"Location": target})
    requests_mock.get(target, json=EMPTY[source])
    with pytest.raises(ApiError, match="only a loopback origin may redirect") as info:
        load(source, REMOTE_ROOT[source])
    assert not isinstance(info.value, af.InputError)
    assert requests_mock.call_count == 1


def test_loopback_may_redirect_to_loopback(serve):
    ports: list[int] = []

    def hop(conn: socket.socket, request: Request) -> bool:
        if request.path == "/rest/v1/audiences":
            location = f"http://localhost:{ports[0]}/rest/v2/audiences"
            conn.sendall(response(302, b"", {"Location": location}))
            return True
        return empty_inventory(conn, request)

    server = serve(hop)
    ports.append(server.port)
    df = load("thrive", server.url)
    assert len(df) == 0
    assert [r.path for r in server.requests] == ["/rest/v1/audiences", "/rest/v2/audiences"]


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """Every client's watchdog ends with its client."""
    yield
    deadline = time.monotonic() + 5
    while any(t.name == "audframe-watchdog" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a watchdog thread outlived its client"
        time.sleep(0.05)
