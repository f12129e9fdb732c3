"""The transport against hostile servers: every hang ends, every refusal is one clear ApiError.

Servers are small raw ones on 127.0.0.1 (``tests/_servers.py``) that drip, never end, bomb or lie
about TLS; requests-mock stands in for a remote origin. What the client decides on its own
(retries, Retry-After, redirects) is driven without a socket in test_http.py.
Retries wait on a clock that does not tick (conftest); deadlines are real, and each test bounds
how long a load may take (never how fast it must be).
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import audframe as af
from audframe._progress import progress_bar
from audframe.errors import ApiError, ResponseError
from audframe.http import deadline as _deadline

from ._servers import EMPTY, Request, Server, answer, empty_inventory, response, serve
from .test_secrets import API_KEY, SECRET, TENANT, THRIVE_API

__all__ = ["serve"]  # the fixture, imported for the tests below

EMAIL = "me@example.com"
SOURCES = ["thrive", "unless"]


def load(source: str, url: str, **kwargs: Any) -> Any:
    """Load ``source`` from the API root ``url`` (a server's root), quietly."""
    kwargs.setdefault("progress", False)
    if source == "thrive":
        # One request's tries: the pages a first round sends beside page 1 are not counted.
        kwargs.setdefault("max_workers", 1)
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
    assert "--max-body-bytes" not in message  # a Python caller reads the keyword
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
    af.load_thrive_audiences(TENANT, SECRET, progress=True, max_workers=1)
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


def test_a_jupyter_kernel_without_ipywidgets_gets_a_text_bar_and_no_warning(monkeypatch, capsys):
    # A plain kernel, as tqdm.auto tells one: ipykernel's shell loaded, IPython's shell a ZMQ
    # one, and no ipywidgets (whatever this machine has installed).
    shell = type("ZMQInteractiveShell", (), {})()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a),
    )
    for name in ("tqdm.auto", "tqdm.autonotebook", "tqdm.notebook"):
        # Imported afresh, as in a new kernel; put back as they were afterwards.
        monkeypatch.setitem(sys.modules, name, None)
        del sys.modules[name]
    # tqdm.auto catches its own warning-turned-error, so the warnings are recorded instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress_bar(3, "Thrive audiences", True) as bar:
            bar.update(3)
    assert [str(w.message) for w in caught] == []
    assert "Thrive audiences:   0%|          | 0/3 [" in capsys.readouterr().err  # a text bar


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


def test_the_ca_bundle_in_the_environment_is_the_way_in_too(tls_server, certificate, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    for source in SOURCES:  # audframe reads the environment once per origin, for each load
        assert rows(load(source, tls_server.url)) == 0
    assert len(tls_server.requests) == 2


@pytest.mark.parametrize("source", SOURCES)
def test_a_proxy_in_the_environment_carries_every_request(serve, monkeypatch, source):
    proxy = serve(empty_inventory)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for _ in range(2):
        assert rows(load(source, "http://localhost:9")) == 0  # nothing listens on port 9
    assert len(proxy.requests) == 2
    assert all(r.target.startswith("http://localhost:9/") for r in proxy.requests)


def test_no_proxy_in_the_environment_goes_straight_to_the_server(serve, monkeypatch):
    server = serve(empty_inventory)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for source in SOURCES:
        assert rows(load(source, server.url)) == 0
    assert len(server.requests) == 2


def rows(loaded: Any) -> int:
    """How many audiences a load gave, whichever source."""
    return len(loaded if isinstance(loaded, pd.DataFrame) else loaded.audiences)


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


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """Every client's watchdog ends with its client."""
    yield
    deadline = time.monotonic() + 5
    while any(t.name == "audframe-watchdog" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a watchdog thread outlived its client"
        time.sleep(0.05)


def test_the_watchdog_ends_a_try_due_before_those_it_waits_for():
    # The watchdog is woken only for a try due before the ones it already waits on.
    watchdog = _deadline.Watchdog(lambda label, waited: None)
    try:
        with watchdog.watch(60, "slow") as slow:
            time.sleep(0.1)  # the watchdog sleeps until the slow try's first notice
            ends = threading.Event()
            with watchdog.watch(0.2, "quick") as quick:
                for _ in range(40):  # well before the slow try's notice, 5 s on
                    if quick.expired:
                        ends.set()
                        break
                    time.sleep(0.05)
            assert ends.is_set()
            assert not slow.expired
    finally:
        watchdog.close()


def test_the_watchdog_ends_tries_begun_while_it_sleeps():
    watchdog = _deadline.Watchdog(lambda label, waited: None)
    try:
        with watchdog.watch(0.3, "first") as first:
            time.sleep(0.1)  # the watchdog sleeps until the first try's deadline
            with watchdog.watch(0.3, "second") as second:
                time.sleep(0.1)
                for _ in range(40):
                    if second.expired:
                        break
                    time.sleep(0.05)
                assert first.expired
                assert second.expired
    finally:
        watchdog.close()


@pytest.mark.parametrize("source", SOURCES)
def test_a_netrc_entry_for_the_host_never_replaces_the_credentials(
    serve, tmp_path, monkeypatch, source
):
    # requests used to look the host up in ~/.netrc on every request: Thrive's Basic
    # credentials were replaced with the file's, and Unless's requests gained them.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\nlogin someone-else\npassword netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server = serve(empty_inventory)
    assert rows(load(source, server.url)) == 0
    (request,) = server.requests
    sent = request.headers.get("authorization", "")
    if source == "thrive":
        assert base64.b64decode(sent.split()[1]).decode() == f"{TENANT}:{SECRET}"
    else:
        assert sent == ""


def test_a_proxy_that_does_not_answer_is_named_without_its_credentials(monkeypatch, waits):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy-user:proxy-password@127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ApiError) as info:
        load("thrive", "http://localhost:9", max_retries=1)
    text = str(info.value)
    assert "no answer from the proxy (HTTPS_PROXY / HTTP_PROXY)" in text
    assert "NO_PROXY" in text
    assert "proxy-password" not in text
    assert "proxy-user" not in text


# ---- the client's own session sends its GETs on urllib3 directly ---------------------------------


class Route:
    """Which way the client's GETs go: ``route(through_requests=True)`` sends each through
    requests' Session, as one on a session of the caller's would; False lets them go directly,
    and counts those tried so in :attr:`direct`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.direct = 0

    def __call__(self, *, through_requests: bool) -> None:
        from audframe.http import direct

        real = direct.Direct.get

        def get(client: Any, *args: Any, **kwargs: Any) -> Any:
            if through_requests:
                return None
            self.direct += 1
            return real(client, *args, **kwargs)

        self._monkeypatch.setattr(direct.Direct, "get", get)


@pytest.fixture
def route(monkeypatch: pytest.MonkeyPatch) -> Route:
    return Route(monkeypatch)


@pytest.mark.parametrize("source", SOURCES)
def test_a_get_sent_directly_is_the_one_requests_sends(serve, route, source):
    server = serve(empty_inventory)
    seen: list[list[Request]] = []
    for through_requests in (False, True):
        route(through_requests=through_requests)
        before = len(server.requests)
        assert rows(load(source, server.url)) == 0
        seen.append(server.requests[before:])
    direct, through = seen
    assert route.direct == len(direct) >= 1
    assert [(r.method, r.target, list(r.headers.items())) for r in direct] == [
        (r.method, r.target, list(r.headers.items())) for r in through
    ]
    assert "gzip" in direct[0].headers["accept-encoding"]
    assert direct[0].headers["user-agent"].startswith("audframe/")


def test_cookies_a_server_sets_are_sent_back_as_requests_would(serve, route):
    def pages(conn: socket.socket, request: Request) -> bool:
        page = int(request.query["page"])
        record = {"id": f"{page:024x}", "name": f"n{page}", "category": "structure"}
        body = {"results": [record], "pagination": {"totalResults": 3, "totalPages": 3}}
        conn.sendall(response(200, body, {"Set-Cookie": "lb=node-7; Path=/"}))
        return True

    route(through_requests=False)
    server = serve(pages)
    assert len(load("thrive", server.url, per_page=1)) == 3
    assert [r.headers.get("cookie") for r in server.requests] == [None, "lb=node-7", "lb=node-7"]


def _refused(conn: socket.socket, request: Request) -> bool:
    return False  # never used: nothing listens


def _reset(conn: socket.socket, request: Request) -> bool:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return False  # closed with a reset, nothing answered


def _hung_up(conn: socket.socket, request: Request) -> bool:
    return False  # closed cleanly, nothing answered


def _cut(conn: socket.socket, request: Request) -> bool:
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"results": [')
    return False


def _bad_gzip(conn: socket.socket, request: Request) -> bool:
    conn.sendall(response(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
    return True


def _bad_status_line(conn: socket.socket, request: Request) -> bool:
    conn.sendall(b"SPDY/9 200 OK\r\n\r\n")
    return False


FAILURES = {
    "refused": (_refused, "Connection refused"),
    "reset": (_reset, "a connection error"),
    "hung up": (_hung_up, "a connection error"),
    "cut body": (_cut, "a body cut short"),
    "bad gzip": (_bad_gzip, "a body that could not be decoded"),
    "bad status line": (_bad_status_line, "a connection error"),
}


def test_a_claimed_length_sets_no_memory_aside_before_the_bytes_come(serve):
    # A body at its claimed length is read in one read only up to WHOLE_BYTES: the buffer of
    # that read is set aside before a byte comes, and this server claims 800 MB but sends 3.
    def claims_more(conn: socket.socket, request: Request) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 800000000\r\n\r\n[1]")
        return False

    server = serve(claims_more)
    tracemalloc.start()
    try:
        error = ends_within(15, lambda: load("thrive", server.url, max_retries=0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, ApiError), error
    assert "a body cut short" in str(error)
    assert peak < 100_000_000, f"{peak:,} bytes traced"


def test_a_body_read_at_once_or_in_pieces_is_the_same_body(serve, monkeypatch, thrive_records):
    page = {"results": thrive_records, "pagination": {"totalResults": len(thrive_records)}}
    server = serve(answer(200, page))
    frames = []
    for whole in (1 << 24, 100):  # the page in one read, then in pieces (over WHOLE_BYTES)
        monkeypatch.setattr("audframe.http.direct.WHOLE_BYTES", whole)
        frames.append(load("thrive", server.url))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == len(thrive_records)


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failure_sent_directly_reads_as_through_requests(serve, route, failure):
    handler, expected = FAILURES[failure]
    messages = []
    for through_requests in (False, True):
        server = serve(handler)
        url = server.url
        if failure == "refused":
            server.close()  # the port is free now: nothing answers it
        route(through_requests=through_requests)
        error = ends_within(15, lambda: load("thrive", url, max_retries=0))  # noqa: B023
        assert isinstance(error, ApiError), error
        messages.append(str(error).replace(url, "URL"))
    assert route.direct == 1
    assert messages[0] == messages[1]
    assert expected in messages[0]
