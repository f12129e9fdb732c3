"""No secret leaks: not in a log line, an error, a ``repr``, ``attrs``, stdout/stderr or a Parquet
byte; credentials go only to their own host; plain http is refused off loopback.

Each scenario runs a loader (or the CLI) with DEBUG logging on ``audframe`` and ``urllib3``, then
searches everything it produced for every secret: the Thrive API secret, the OAuth2 client
secret, every OAuth2 token the sandbox issued, the Unless API key, and the base64 forms HTTP
Basic puts on the wire. Lakes are written uncompressed, so a secret in a Parquet file would be
there byte for byte.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets as std_secrets
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import audframe as af
from audframe import _http
from audframe.cli import main as cli_main
from audframe.sandbox import SANDBOX_THRIVE, SANDBOX_UNLESS, Sandbox
from audframe.unless import load_unless_audiences

THRIVE_API = "https://public.api.learn.link/rest/v1"
THRIVE_TOKEN = "https://public.api.learn.link/oauth2/token/eu-west-2_AbcdEfghI"
UNLESS_API = "https://api.unless.com/api/v1/public/audiences"
TENANT = "eu-west-2_AbcdEfghI"
SECRET = "s3cr3t-VALUE-xyz"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-SECRET-456"
API_KEY = "unless-KEY-789"


def _b64(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class Leaks:
    """Everything a scenario produced, searched for every secret at the end."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.texts: list[tuple[str, str]] = []
        self.blobs: list[tuple[str, bytes]] = []

    def text(self, where: str, value: Any) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def obj(self, where: str, value: Any) -> None:
        """An object's repr, str and (one level down) its attributes' reprs."""
        self.text(f"repr({where})", repr(value))
        self.text(f"str({where})", str(value))
        for name, attr in getattr(value, "__dict__", {}).items():
            self.text(f"{where}.{name}", repr(attr))

    def error(self, where: str, exc: BaseException) -> None:
        self.obj(where, exc)
        self.text(f"{where} traceback", "".join(traceback.format_exception(exc)))

    def frame(self, where: str, df: pd.DataFrame) -> None:
        self.text(f"{where}.attrs", df.attrs)
        self.text(f"repr({where})", repr(df))
        self.text(f"{where} cells", df.to_csv())

    def lake(self, root: Path) -> int:
        files = sorted(root.rglob("*.parquet"))
        for path in files:
            self.blobs.append((str(path), path.read_bytes()))
        return len(files)

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        self.text("caplog", caplog.text)
        for record in caplog.records:
            self.text(f"log {record.name}", record.getMessage())
            self.text(f"log args {record.name}", record.args)

    def check(self) -> None:
        assert self.texts or self.blobs, "nothing was searched"
        found = []
        for name, value in self.secrets.items():
            assert len(value) >= 8, f"{name} is too short to search for"
            found += [f"{name} in {where}" for where, text in self.texts if value in text]
            found += [f"{name} in {where}" for where, blob in self.blobs if value.encode() in blob]
        assert not found, "secrets leaked: " + "; ".join(found)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="audframe")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[_http.HttpClient]:
    """Every HttpClient made during the test (their auth objects hang off them)."""
    made: list[_http.HttpClient] = []
    init = _http.HttpClient.__init__

    def record(self: _http.HttpClient, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(_http.HttpClient, "__init__", record)
    return made


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every OAuth2 token the sandbox hands out."""
    tokens: list[str] = []

    def token_urlsafe(n: int) -> str:
        tokens.append(std_secrets.token_urlsafe(n))
        return tokens[-1]

    shim = SimpleNamespace(token_urlsafe=token_urlsafe, compare_digest=std_secrets.compare_digest)
    monkeypatch.setattr("audframe.sandbox.secrets", shim)
    return tokens


def _sandbox_secrets(sb: Sandbox, tokens: list[str] = ()) -> dict[str, str]:
    found = {
        "thrive api secret": SANDBOX_THRIVE["api_secret"],
        "thrive basic base64": _b64(sb.tenant_id, SANDBOX_THRIVE["api_secret"]),
        "oauth client secret": SANDBOX_THRIVE["client_secret"],
        "oauth client base64": _b64(SANDBOX_THRIVE["client_id"], SANDBOX_THRIVE["client_secret"]),
        "unless api key": SANDBOX_UNLESS["api_key"],
    }
    found |= {f"oauth token {i}": token for i, token in enumerate(tokens)}
    return found


def _saw_debug_requests(caplog: pytest.LogCaptureFixture) -> None:
    """The search means something only if DEBUG logging really saw the requests."""
    lines = [r.getMessage() for r in caplog.records if r.name == "audframe"]
    assert any(" -> 200 in " in line or " -> 4" in line or " -> 5" in line for line in lines)
    assert any(r.name.startswith("urllib3") for r in caplog.records)


# ---- the loaders, in process -----------------------------------------------------------------


@pytest.mark.parametrize("oauth", [False, True], ids=["basic", "oauth"])
def test_thrive_load_and_lake_hold_no_secret(tmp_path, debug_logs, clients, issued, oauth):
    with Sandbox() as sb:
        df = af.load_thrive_audiences(**sb.thrive_kwargs(oauth=oauth), per_page=100, progress=False)
    assert len(issued) == (1 if oauth else 0)
    written = af.to_parquet(df, tmp_path, compression="none")
    leaks = Leaks(_sandbox_secrets(sb, issued))
    leaks.logs(debug_logs)
    leaks.frame("df", df)
    for i, client in enumerate(clients):
        leaks.obj(f"client{i}", client)
        leaks.obj(f"client{i}.auth", client.auth)
    assert leaks.lake(tmp_path) == len(written) == 1
    _saw_debug_requests(debug_logs)
    leaks.check()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_secret": "wrong-secret-value-1"},
        {"client_id": SANDBOX_THRIVE["client_id"], "client_secret": "wrong-client-secret-2"},
    ],
    ids=["basic", "oauth"],
)
def test_thrive_refused_credentials_leave_no_secret(debug_logs, clients, kwargs):
    with Sandbox() as sb:
        options = {"tenant_id": sb.tenant_id, "base_url": sb.thrive_base_url, **kwargs}
        if "client_id" in kwargs:
            options["token_url"] = sb.thrive_token_url
        with pytest.raises(af.AuthError) as info:
            af.load_thrive_audiences(**options, progress=False)
    wrong = next(v for k, v in kwargs.items() if "secret" in k)
    user = kwargs.get("client_id", sb.tenant_id)
    leaks = Leaks({"wrong secret": wrong, "its base64": _b64(user, wrong)})
    leaks.logs(debug_logs)
    leaks.error("error", info.value)
    for i, client in enumerate(clients):
        leaks.obj(f"client{i}.auth", client.auth)
    assert info.value.status == 401
    leaks.check()


@pytest.mark.parametrize("oauth", [False, True], ids=["basic", "oauth"])
def test_thrive_server_down_leaves_no_secret(debug_logs, issued, oauth):
    with Sandbox() as sb:
        kwargs = sb.thrive_kwargs(oauth=oauth)
        sb.down = True  # the token endpoint too
        with pytest.raises(af.ApiError) as info:
            af.load_thrive_audiences(**kwargs, max_retries=2, progress=False)
    leaks = Leaks(_sandbox_secrets(sb, issued))
    leaks.logs(debug_logs)
    leaks.error("error", info.value)
    assert info.value.status == 503
    leaks.check()


@pytest.mark.parametrize("case", ["ok", "wrong-key", "down"], ids=["ok", "wrong-key", "down"])
def test_unless_load_and_lake_hold_no_secret(tmp_path, debug_logs, clients, case):
    with Sandbox(down=case == "down") as sb:
        kwargs = sb.unless_kwargs()
        if case == "wrong-key":
            kwargs["api_key"] = "wrong-unless-key-3"
        if case == "ok":
            u = load_unless_audiences(**kwargs, progress=False)
        else:
            with pytest.raises(af.ApiError) as info:
                load_unless_audiences(**kwargs, max_retries=1, progress=False)
    leaks = Leaks(_sandbox_secrets(sb) | {"wrong key": "wrong-unless-key-3"})
    leaks.logs(debug_logs)
    for i, client in enumerate(clients):
        leaks.obj(f"client{i}", client)
        leaks.obj(f"client{i}.auth", client.auth)
    if case == "ok":
        leaks.obj("tables", u)
        for name, df in u.tables().items():
            leaks.frame(name, df)
        assert leaks.lake(tmp_path) == 0
        af.to_parquet(u, tmp_path, compression="none")
        assert leaks.lake(tmp_path) == 4 * len(sb.website_ids)
    else:
        leaks.error("error", info.value)
        assert info.value.status == (401 if case == "wrong-key" else 503)
    _saw_debug_requests(debug_logs)
    leaks.check()


# ---- a vendor that echoes what it was sent ---------------------------------------------------


def test_thrive_vendor_echoing_the_basic_credentials_is_redacted(requests_mock):
    token = _b64(TENANT, SECRET)
    echo = f"bad credentials: Authorization=Basic {token} (token {token}, secret {SECRET})"
    requests_mock.get(f"{THRIVE_API}/audiences", status_code=401, json={"message": echo})
    with pytest.raises(af.AuthError) as info:
        af.load_thrive_audiences(TENANT, SECRET, progress=False)
    leaks = Leaks({"secret": SECRET, "base64": token})
    leaks.error("error", info.value)
    assert "bad credentials" in info.value.vendor_message
    leaks.check()


@pytest.mark.parametrize("in_body", [False, True], ids=["basic", "in-body"])
def test_thrive_token_endpoint_echoing_the_client_credentials_is_redacted(requests_mock, in_body):
    token = _b64(CLIENT_ID, CLIENT_SECRET)
    echo = f"invalid_client: Basic {token} / {token} / client_secret={CLIENT_SECRET}"
    requests_mock.post(THRIVE_TOKEN, status_code=401, json={"error": echo})
    with pytest.raises(af.AuthError) as info:
        af.load_thrive_audiences(
            TENANT,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            credentials_in_body=in_body,
            progress=False,
        )
    leaks = Leaks({"client secret": CLIENT_SECRET, "base64": token})
    leaks.error("error", info.value)
    assert "invalid_client" in info.value.vendor_message
    leaks.check()


def test_thrive_vendor_echoing_the_bearer_token_is_redacted(requests_mock):
    bearer = "tok-" + "A1b2C3d4" * 4
    requests_mock.post(THRIVE_TOKEN, json={"access_token": bearer, "expires_in": 3600})
    echo = f"token Bearer {bearer} lacks scope"
    requests_mock.get(f"{THRIVE_API}/audiences", status_code=403, json={"message": echo})
    with pytest.raises(af.AuthError) as info:
        af.load_thrive_audiences(
            TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, progress=False
        )
    leaks = Leaks({"bearer token": bearer, "client secret": CLIENT_SECRET})
    leaks.error("error", info.value)
    assert "lacks scope" in info.value.vendor_message
    leaks.check()


def test_unless_vendor_echoing_the_api_key_is_redacted(requests_mock):
    requests_mock.get(UNLESS_API, status_code=401, json={"message": f"Invalid key {API_KEY}"})
    with pytest.raises(af.AuthError) as info:
        load_unless_audiences(API_KEY, "me@example.com", "acc", "w1", progress=False)
    leaks = Leaks({"api key": API_KEY})
    leaks.error("error", info.value)
    assert "Invalid key" in info.value.vendor_message
    leaks.check()


# ---- the command line -------------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _thrive_env(sb: Sandbox, *, oauth: bool, secret: str | None = None) -> dict[str, str]:
    env = {"THRIVE_TENANT_ID": sb.tenant_id}
    if oauth:
        env |= {
            "THRIVE_CLIENT_ID": SANDBOX_THRIVE["client_id"],
            "THRIVE_CLIENT_SECRET": secret or SANDBOX_THRIVE["client_secret"],
        }
    else:
        env["THRIVE_API_SECRET"] = secret or SANDBOX_THRIVE["api_secret"]
    return env


def _unless_env(sb: Sandbox, *, key: str | None = None) -> dict[str, str]:
    return {
        "UNLESS_API_KEY": key or SANDBOX_UNLESS["api_key"],
        "UNLESS_USER_EMAIL": SANDBOX_UNLESS["user_email"],
        "UNLESS_ACCOUNT_ID": SANDBOX_UNLESS["account_id"],
        "UNLESS_WEBSITE_ID": ",".join(sb.website_ids),
    }


def _thrive_args(sb: Sandbox, out: Path, *, oauth: bool) -> list[str]:
    args = ["thrive", "-v", "--out", str(out), "--base-url", sb.thrive_base_url]
    args += ["--compression", "none", "--per-page", "100", "--max-retries", "1"]
    return args + (["--token-url", sb.thrive_token_url] if oauth else [])


def _unless_args(sb: Sandbox, out: Path) -> list[str]:
    return ["unless", "-v", "--out", str(out), "--base-url", sb.url, "--compression", "none"]


@pytest.mark.parametrize(
    ("source", "oauth", "case", "status"),
    [
        ("thrive", False, "ok", 0),
        ("thrive", True, "ok", 0),
        ("thrive", False, "wrong", 3),
        ("thrive", True, "wrong", 3),
        ("thrive", False, "down", 3),
        ("unless", False, "ok", 0),
        ("unless", False, "wrong", 3),
        ("unless", False, "down", 3),
    ],
    ids=[
        "thrive-basic-ok",
        "thrive-oauth-ok",
        "thrive-basic-wrong",
        "thrive-oauth-wrong",
        "thrive-down",
        "unless-ok",
        "unless-wrong",
        "unless-down",
    ],
)
def test_cli_in_process_prints_and_writes_no_secret(
    tmp_path, monkeypatch, capsys, debug_logs, issued, sandbox, source, oauth, case, status
):
    wrong = "wrong-cli-secret-4" if case == "wrong" else None
    if source == "thrive":
        env, args = (
            _thrive_env(sandbox, oauth=oauth, secret=wrong),
            _thrive_args(sandbox, tmp_path, oauth=oauth),
        )
    else:
        env, args = _unless_env(sandbox, key=wrong), _unless_args(sandbox, tmp_path)
        args += ["--max-retries", "1"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox.down = case == "down"
    assert cli_main(args) == status
    out, err = capsys.readouterr()
    leaks = Leaks(_sandbox_secrets(sandbox, issued) | {"wrong": "wrong-cli-secret-4"})
    leaks.text("stdout", out)
    leaks.text("stderr", err)
    leaks.logs(debug_logs)
    files = leaks.lake(tmp_path)
    if status == 0:
        assert files >= 1
        assert '"rows"' in out
    else:
        assert files == 0
        assert err.startswith("audframe: error: ")
        assert err.count("\n") == 1
    _saw_debug_requests(debug_logs)
    leaks.check()


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("THRIVE_", "UNLESS_"))}
    return subprocess.run(
        [sys.executable, "-m", "audframe.cli", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("source", "oauth"),
    [("thrive", False), ("thrive", True), ("unless", False)],
    ids=["thrive-basic", "thrive-oauth", "unless"],
)
def test_cli_subprocess_verbose_prints_and_writes_no_secret(
    tmp_path, issued, sandbox, source, oauth
):
    if source == "thrive":
        done = _run_cli(
            _thrive_args(sandbox, tmp_path, oauth=oauth), _thrive_env(sandbox, oauth=oauth)
        )
    else:
        done = _run_cli(_unless_args(sandbox, tmp_path), _unless_env(sandbox))
    assert done.returncode == 0, done.stderr[-3000:]
    assert " DEBUG audframe: GET " in done.stderr  # -v really logged every request
    leaks = Leaks(_sandbox_secrets(sandbox, issued))
    leaks.text("stdout", done.stdout)
    leaks.text("stderr", done.stderr)
    assert leaks.lake(tmp_path) >= 1
    assert len(issued) == (1 if oauth else 0)
    leaks.check()


def test_cli_subprocess_refused_credentials_print_one_line_without_the_secret(tmp_path, sandbox):
    done = _run_cli(
        _thrive_args(sandbox, tmp_path, oauth=False),
        _thrive_env(sandbox, oauth=False, secret="wrong-subprocess-secret-5"),
    )
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("audframe: error:")]
    assert len(errors) == 1
    assert "HTTP 401" in errors[0]
    leaks = Leaks(
        {
            "wrong": "wrong-subprocess-secret-5",
            "base64": _b64(sandbox.tenant_id, "wrong-subprocess-secret-5"),
        }
    )
    leaks.text("stdout", done.stdout)
    leaks.text("stderr", done.stderr)
    leaks.check()


# ---- credentials stay with their host ---------------------------------------------------------

CREDENTIAL_HEADERS = ("Authorization", "x-api-key", "x-user-email", "x-account-id")
PAGE = {"results": [], "pagination": {"totalResults": 0, "totalPages": 0}}


def _credentials(request: Any) -> dict[str, str]:
    return {
        k: v for k, v in request.headers.items() if k.lower() in map(str.lower, CREDENTIAL_HEADERS)
    }


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308], ids=lambda s: f"http-{s}")
def test_thrive_redirect_to_another_host_carries_no_credentials(requests_mock, status):
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        status_code=status,
        headers={"Location": "https://cdn.example.net/audiences?page=1&perPage=1000"},
    )
    requests_mock.get("https://cdn.example.net/audiences", json=PAGE)
    af.load_thrive_audiences(TENANT, SECRET, progress=False)
    first, second = requests_mock.request_history
    assert first.headers["Authorization"] == f"Basic {_b64(TENANT, SECRET)}"
    assert second.hostname == "cdn.example.net"
    assert _credentials(second) == {}


def test_thrive_redirect_on_the_same_host_keeps_the_credentials(requests_mock):
    # The other side of the rule above: a redirect within the API's origin is followed as is.
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        status_code=302,
        headers={"Location": "/rest/v2/audiences?page=1"},
    )
    requests_mock.get("https://public.api.learn.link/rest/v2/audiences", json=PAGE)
    af.load_thrive_audiences(TENANT, SECRET, progress=False)
    assert requests_mock.request_history[1].headers["Authorization"].startswith("Basic ")


def test_thrive_bearer_token_is_not_sent_to_a_redirect_host(requests_mock):
    requests_mock.post(THRIVE_TOKEN, json={"access_token": "bearer-abcdef-123", "expires_in": 60})
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        status_code=307,
        headers={"Location": "https://mirror.example.org/audiences"},
    )
    requests_mock.get("https://mirror.example.org/audiences", json=PAGE)
    af.load_thrive_audiences(
        TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, progress=False
    )
    mirror = requests_mock.request_history[-1]
    assert mirror.hostname == "mirror.example.org"
    assert _credentials(mirror) == {}


@pytest.mark.parametrize("in_body", [False, True], ids=["basic", "in-body"])
@pytest.mark.parametrize("status", [307, 308], ids=["http-307", "http-308"])
def test_thrive_token_request_redirected_to_another_host_carries_no_client_secret(
    requests_mock, status, in_body
):
    # 307 and 308 keep the method and the body: a form holding the client secret must not go.
    requests_mock.post(
        THRIVE_TOKEN, status_code=status, headers={"Location": "https://idp.example/t"}
    )
    requests_mock.post("https://idp.example/t", json={"access_token": "x" * 20})
    requests_mock.get(f"{THRIVE_API}/audiences", json=PAGE)
    with pytest.raises(af.ApiError, match="another host") as info:
        af.load_thrive_audiences(
            TENANT,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            credentials_in_body=in_body,
            progress=False,
        )
    assert info.value.endpoint == f"POST {THRIVE_TOKEN}"
    for request in requests_mock.request_history:
        if request.hostname == "idp.example":
            assert _credentials(request) == {}
            assert CLIENT_SECRET not in (request.text or "")


@pytest.mark.parametrize("status", [302, 307], ids=["http-302", "http-307"])
def test_unless_redirect_to_another_host_carries_no_credentials(requests_mock, status):
    requests_mock.get(
        UNLESS_API, status_code=status, headers={"Location": "https://elsewhere.example/aud"}
    )
    requests_mock.get("https://elsewhere.example/aud", json={"audiences": []})
    load_unless_audiences(API_KEY, "me@example.com", "acc", "w1", states="live", progress=False)
    first, second = requests_mock.request_history
    assert first.headers["x-api-key"] == API_KEY
    assert second.hostname == "elsewhere.example"
    assert _credentials(second) == {}


def test_redirect_to_plain_http_off_loopback_is_refused(requests_mock):
    requests_mock.get(
        f"{THRIVE_API}/audiences", status_code=302, headers={"Location": "http://cdn.example.net/a"}
    )
    with pytest.raises(af.InputError, match="plain http://"):
        af.load_thrive_audiences(TENANT, SECRET, progress=False)
    assert len(requests_mock.request_history) == 1


# ---- plain http ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://public.api.learn.link/rest/v1",
        "http://10.0.0.5:8080/rest/v1",
        "http://127.0.0.1.example.com/rest/v1",
        "http://localhost.example.com/rest/v1",
        "http://[2001:db8::1]/rest/v1",
    ],
    ids=["name", "private-ip", "loopback-lookalike", "localhost-lookalike", "ipv6"],
)
def test_plain_http_off_loopback_is_refused_before_any_request(requests_mock, url):
    with pytest.raises(af.InputError, match="plain http://"):
        af.load_thrive_audiences(TENANT, SECRET, base_url=url, progress=False)
    with pytest.raises(af.InputError, match="plain http://"):
        af.load_thrive_audiences(
            TENANT,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_url=url + "/token",
            progress=False,
        )
    with pytest.raises(af.InputError, match="plain http://"):
        load_unless_audiences(API_KEY, "me@example.com", "acc", "w1", base_url=url, progress=False)
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/rest/v1", "http://localhost:9/rest/v1", "http://[::1]:9/rest/v1"],
    ids=["127.0.0.1", "localhost", "ipv6-loopback"],
)
def test_plain_http_to_loopback_is_allowed(requests_mock, url):
    requests_mock.get(url + "/audiences", json=PAGE)
    df = af.load_thrive_audiences(TENANT, SECRET, base_url=url, progress=False)
    assert len(df) == 0
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("source", ["thrive", "unless"], ids=["thrive", "unless"])
def test_cli_refuses_plain_http_off_loopback(tmp_path, monkeypatch, capsys, requests_mock, source):
    monkeypatch.setenv("THRIVE_TENANT_ID", TENANT)
    monkeypatch.setenv("THRIVE_API_SECRET", SECRET)
    monkeypatch.setenv("UNLESS_API_KEY", API_KEY)
    monkeypatch.setenv("UNLESS_USER_EMAIL", "me@example.com")
    monkeypatch.setenv("UNLESS_ACCOUNT_ID", "acc")
    monkeypatch.setenv("UNLESS_WEBSITE_ID", "w1")
    url = "http://api.example.com/rest/v1" if source == "thrive" else "http://api.example.com"
    assert cli_main([source, "--out", str(tmp_path), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "plain http://" in err
    assert requests_mock.request_history == []
    leaks = Leaks({"secret": SECRET, "api key": API_KEY})
    leaks.text("stderr", err)
    leaks.check()
