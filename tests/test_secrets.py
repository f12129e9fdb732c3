"""No secret leaks: not in a log line, an error, a ``repr``, ``attrs``, stdout/stderr or a Parquet
byte; plain http is refused off loopback. (That credentials go only to their own host, across
redirects, is HttpClient's rule: test_http.py.)

Each scenario runs a loader (or the CLI) with DEBUG logging on ``audframe`` and ``urllib3``, then
searches everything it produced for every secret: the Thrive API secret, the OAuth2 client
secret, every OAuth2 token the sandbox issued, the Unless API key, and the base64 forms HTTP
Basic puts on the wire. Lakes are written uncompressed, so a secret in a Parquet file would be
there byte for byte.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import secrets as std_secrets
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, quote_plus

import pandas as pd
import pytest

import audframe as af
from audframe import http as _http
from audframe import load_unless_audiences
from audframe.audit import run_audit
from audframe.cli import main as cli_main
from audframe.http import secrets as af_secrets
from audframe.sandbox import SANDBOX_THRIVE, SANDBOX_UNLESS, Sandbox

from ._servers import answer, response, serve

__all__ = ["serve"]  # the fixture, for the hostile servers below

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
    monkeypatch.setattr("audframe.sandbox.thrive.secrets", shim)
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
@pytest.mark.parametrize(
    "secret", [CLIENT_SECRET, "client/SECRET+with&specials"], ids=["plain", "specials"]
)
def test_thrive_token_endpoint_echoing_the_client_credentials_is_redacted(
    requests_mock, in_body, secret
):
    # The form as it was sent: the secret URL-encoded, which a vendor may quote back whole.
    token = _b64(CLIENT_ID, secret)
    form = f"client_id={CLIENT_ID}&client_secret={quote_plus(secret)}"
    echo = f"invalid_client: Basic {token} / {token} / client_secret={secret} / body {form}"
    requests_mock.post(THRIVE_TOKEN, status_code=401, json={"error": echo})
    with pytest.raises(af.AuthError) as info:
        af.load_thrive_audiences(
            TENANT,
            client_id=CLIENT_ID,
            client_secret=secret,
            credentials_in_body=in_body,
            progress=False,
        )
    leaks = Leaks({"client secret": secret, "base64": token, "form": quote_plus(secret)})
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


# ---- plain http ------------------------------------------------------------------------------

PAGE = {"results": [], "pagination": {"totalResults": 0, "totalPages": 0}}


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
    assert requests_mock.call_count >= 1  # sent (with the first round's other pages)


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


# ---- issue 12.1: redact first, then clip ------------------------------------------------------

LONG_KEY = "Kq7Zw9Pv2Lx8Rt5Ny3Hb6Jm4Fd1Gs0Ac7Ee2Ui9Oo"  # 42 characters, none of them in a URL here


def _pieces_shown(secret: str, text: str) -> list[str]:
    """Every start or end of ``secret`` (4 characters or more) that ``text`` shows."""
    pieces = [secret[:n] for n in range(4, len(secret) + 1)]
    pieces += [secret[-n:] for n in range(4, len(secret) + 1)]
    return [piece for piece in pieces if piece in text]


# The key starts at offset + 4; each offset puts it across the 300-character clip.
@pytest.mark.parametrize("offset", [254, 262, 270, 280, 291])
def test_a_secret_echoed_across_the_clip_leaves_no_part_of_itself(requests_mock, offset):
    body = {"message": "x" * offset + f"key {LONG_KEY} refused"}
    requests_mock.get(UNLESS_API, status_code=401, json=body)
    with pytest.raises(af.AuthError) as info:
        load_unless_audiences(LONG_KEY, "me@example.com", "acc", "w1", progress=False)
    assert info.value.vendor_message.startswith("xxxx")
    assert _pieces_shown(LONG_KEY, str(info.value)) == []
    assert _pieces_shown(LONG_KEY, info.value.vendor_message) == []


# ---- issue 12.2: every form a secret takes in text; none too short to mask --------------------

TRICKY_KEY = 'k"ey\\with/ sp&ce+=%25-x'  # JSON, URL and Base64 each write it differently
TRICKY_FORMS = {
    "json-escaped": json.dumps(TRICKY_KEY)[1:-1],
    "json-escaped-slash": json.dumps(TRICKY_KEY)[1:-1].replace("/", "\\/"),
    "url-quoted": quote(TRICKY_KEY, safe=""),
    "url-quoted-path": quote(TRICKY_KEY),
    "url-plus": quote_plus(TRICKY_KEY),
    "base64": base64.b64encode(TRICKY_KEY.encode()).decode(),
    "base64-unpadded": base64.b64encode(TRICKY_KEY.encode()).decode().rstrip("="),
}
ECHOES = {
    # The echoed request as a JSON object: the key comes back JSON-escaped.
    "json-object": lambda: {"message": {"headers": {"x-api-key": TRICKY_KEY}}},
    "json-text-body": lambda: f'<pre>{{"x-api-key": "{TRICKY_FORMS["json-escaped-slash"]}"}}</pre>',
    "query-echo": lambda: {"message": f"bad url /aud?key={TRICKY_FORMS['url-quoted']}&x=1"},
    "form-echo": lambda: {"message": f"bad form key={TRICKY_FORMS['url-plus']}"},
    "path-echo": lambda: {"message": f"no route /keys/{TRICKY_FORMS['url-quoted-path']}"},
    "base64-echo": lambda: {"message": f"token {TRICKY_FORMS['base64']} unknown"},
}


@pytest.mark.parametrize("echo", list(ECHOES))
def test_every_textual_form_of_a_secret_is_redacted(requests_mock, echo):
    body = ECHOES[echo]()
    if isinstance(body, str):
        requests_mock.get(UNLESS_API, status_code=401, text=body)
    else:
        requests_mock.get(UNLESS_API, status_code=401, json=body)
    with pytest.raises(af.AuthError) as info:
        load_unless_audiences(TRICKY_KEY, "me@example.com", "acc", "w1", progress=False)
    text = str(info.value)
    assert "********" in text
    leaked = [name for name, form in TRICKY_FORMS.items() if form in text]
    assert leaked == [], f"shown: {leaked} in {text}"


def test_the_user_email_is_masked_even_when_short(requests_mock):
    requests_mock.get(UNLESS_API, status_code=403, json={"message": "user me@x.io may not read"})
    with pytest.raises(af.AuthError) as info:
        load_unless_audiences(API_KEY, "me@x.io", "acc", "w1", progress=False)
    assert "me@x.io" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"api_secret": "short-7"}, "THRIVE_API_SECRET"),
        ({"client_id": CLIENT_ID, "client_secret": "sh0rt"}, "THRIVE_CLIENT_SECRET"),
        ({"api_key": "abc"}, "UNLESS_API_KEY"),
    ],
    ids=["api-secret", "client-secret", "api-key"],
)
def test_a_secret_under_8_characters_is_refused_before_any_request(requests_mock, kwargs, name):
    if "api_key" in kwargs:
        kwargs = {**kwargs, "user_email": "me@x.io", "account_id": "a", "website_id": "w"}
        loader = load_unless_audiences
    else:
        kwargs = {**kwargs, "tenant_id": TENANT}
        loader = af.load_thrive_audiences
    with pytest.raises(af.InputError) as info:
        loader(**kwargs, progress=False)
    text = str(info.value)
    assert name in text
    assert "shorter than 8 characters" in text
    assert next(v for k, v in kwargs.items() if k != "client_id") not in text
    assert requests_mock.request_history == []


# ---- issue 12.3: a credential that cannot be a header ------------------------------------------

BAD_CHARACTERS = {
    "cr-lf": ("\r\nX-Injected: yes", "a line break (CR/LF)"),
    "lf": ("\nX-Injected: yes", "a line break (CR/LF)"),
    "nul": ("\x00X-Injected", "a NUL character"),
    "escape": ("\x1b[2JX-Injected", "a control character"),
    "del": ("\x7fX-Injected", "a control character"),
    "non-latin-1": ("€X-Injected", "a character outside Latin-1"),
}


THRIVE_BASIC = {"tenant_id": TENANT, "api_secret": SECRET}
THRIVE_OAUTH = {"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
UNLESS = {"api_key": API_KEY, "user_email": "me@example.com", "account_id": "a", "website_id": "w1"}
# What each credential is called in errors, the argument it comes in, and the load it is for.
CREDENTIALS = {
    "THRIVE_TENANT_ID": ("tenant_id", THRIVE_BASIC),
    "THRIVE_API_SECRET": ("api_secret", THRIVE_BASIC),
    "THRIVE_CLIENT_ID": ("client_id", THRIVE_OAUTH),
    "THRIVE_CLIENT_SECRET": ("client_secret", THRIVE_OAUTH),
    "scope": ("scope", THRIVE_OAUTH),
    "UNLESS_API_KEY": ("api_key", UNLESS),
    "UNLESS_USER_EMAIL": ("user_email", UNLESS),
    "UNLESS_ACCOUNT_ID": ("account_id", UNLESS),
    "UNLESS_WEBSITE_ID": ("website_id", UNLESS),
}


@pytest.mark.parametrize("kind", list(BAD_CHARACTERS))
@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_a_credential_that_cannot_be_a_header_is_refused_before_any_request(
    requests_mock, credential, kind
):
    bad, described = BAD_CHARACTERS[kind]
    argument, good = CREDENTIALS[credential]
    kwargs = {**good, argument: f"{good.get(argument, 'api/read')}-{bad}"}
    loader = load_unless_audiences if good is UNLESS else af.load_thrive_audiences
    with pytest.raises(af.InputError) as info:
        loader(progress=False, **kwargs)
    text = str(info.value)
    assert credential in text
    assert f"holds {described}" in text
    assert "Injected" not in text  # never the value
    assert requests_mock.request_history == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"THRIVE_TENANT_ID": "eu-west-2:Abc"}, "THRIVE_TENANT_ID) holds a ':'"),
        (
            {"THRIVE_CLIENT_ID": "client:id", "THRIVE_CLIENT_SECRET": CLIENT_SECRET},
            "THRIVE_CLIENT_ID) holds a ':'",
        ),
    ],
    ids=["tenant", "client-id"],
)
def test_a_colon_in_a_basic_user_name_is_refused(requests_mock, monkeypatch, env, message):
    monkeypatch.setenv("THRIVE_API_SECRET" if "THRIVE_CLIENT_ID" not in env else "X", SECRET)
    for name, value in {"THRIVE_TENANT_ID": TENANT, **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(af.InputError, match=re.escape(message)):
        af.load_thrive_audiences(progress=False)
    assert requests_mock.request_history == []


def test_a_colon_in_a_client_id_sent_in_the_form_is_fine(requests_mock):
    requests_mock.post(THRIVE_TOKEN, json={"access_token": "tok-" + "A1b2C3d4" * 4})
    requests_mock.get(f"{THRIVE_API}/audiences", json=PAGE)
    af.load_thrive_audiences(
        TENANT,
        client_id="client:id",
        client_secret=CLIENT_SECRET,
        credentials_in_body=True,
        progress=False,
    )


def test_the_cli_exits_2_for_a_credential_with_a_line_break(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("THRIVE_TENANT_ID", TENANT)
    monkeypatch.setenv("THRIVE_API_SECRET", "s3cr3t\nVALUE-xyz")
    assert cli_main(["thrive", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "THRIVE_API_SECRET) holds a line break (CR/LF)" in err
    assert "VALUE-xyz" not in err


@pytest.mark.parametrize(
    ("token", "described"),
    [
        ("tok-\r\nX-Injected: yes", "holds a line break (CR/LF)"),
        ("tok-€-Injected", "holds a character outside Latin-1"),
        ("", "with an empty access_token"),
    ],
    ids=["cr-lf", "non-latin-1", "empty"],
)
def test_a_token_that_cannot_be_a_header_is_an_auth_error(requests_mock, token, described):
    requests_mock.post(THRIVE_TOKEN, json={"access_token": token, "expires_in": 3600})
    requests_mock.get(f"{THRIVE_API}/audiences", json=PAGE)
    with pytest.raises(af.AuthError) as info:
        af.load_thrive_audiences(
            TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, progress=False
        )
    text = str(info.value)
    assert text.startswith(f"POST {THRIVE_TOKEN} -> HTTP 200: the token endpoint answered ")
    assert described in text
    assert "Injected" not in text
    assert len(requests_mock.request_history) == 1  # not retried, and the API never called


# ---- issue 12.4: no frame of a failed load's traceback holds a revealed secret -----------------

BEARER = "tok-" + "Zz9Yy8Xx7Ww6" * 3
TOKEN_PATH = f"/oauth2/token/{TENANT}"


def revealed_in_frames(exc: BaseException, secrets: dict[str, str]) -> list[str]:
    """Every local, in every frame of ``exc``'s traceback and its causes' and contexts', that
    holds a secret as text: a ``str`` or ``bytes``, a container holding one (at any depth), or
    an object whose ``repr`` shows one. ``Secret`` objects mask themselves and pass."""
    found: list[str] = []
    chain: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while chain:
        error = chain.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if not _callers_frame(frame):
                for name, value in frame.f_locals.items():
                    where = f"{frame.f_code.co_filename}:{frame.f_code.co_name}:{name}"
                    found += [f"{secret} in {where}" for secret in _held(value, secrets, set())]
            tb = tb.tb_next
        chain += [error.__cause__, error.__context__]
    return sorted(set(found))


def _callers_frame(frame: Any) -> bool:
    """A frame of the test calling the loader: it holds the secrets it passes, on purpose."""
    own = frame.f_globals.get("__name__") == __name__
    return own and frame.f_code.co_name.startswith(("test_", "_walker_load"))


def _held(value: Any, secrets: dict[str, str], seen: set[int]) -> list[str]:
    if id(value) in seen or isinstance(value, af_secrets.Secret):
        return []
    seen.add(id(value))
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    if isinstance(value, str):
        return [name for name, secret in secrets.items() if secret in value]
    if isinstance(value, Mapping):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        try:
            return _held(repr(value), secrets, seen)
        except Exception:
            return []
    return [name for item in items for name in _held(item, secrets, seen)]


def _walker_secrets() -> dict[str, str]:
    return {
        "thrive api secret": SECRET,
        "thrive basic base64": _b64(TENANT, SECRET),
        "client secret": CLIENT_SECRET,
        "client basic base64": _b64(CLIENT_ID, CLIENT_SECRET),
        "bearer token": BEARER,
        "unless api key": API_KEY,
        "unless user email": "walker@example.com",
    }


def _hostile(case: str) -> Callable[[Any, Any], bool]:
    """A server that fails the API call (and, for token-* cases, the token call) as ``case``."""

    def handle(conn: Any, request: Any) -> bool:
        token_call = request.path == TOKEN_PATH
        failing = case.startswith("token-") == token_call
        if token_call and not failing:
            conn.sendall(response(200, {"access_token": BEARER, "expires_in": 3600}))
        elif not failing:
            conn.sendall(response(200, PAGE))
        elif case.endswith("timeout"):
            request.stopped.wait(3)
            return False
        elif case.endswith("bad-token"):
            conn.sendall(response(200, {"access_token": "tok\r\nX-Injected: 1"}))
        elif case.endswith("redirect"):
            conn.sendall(response(302, b"", {"Location": "ftp://elsewhere/x"}))
        elif case.endswith("too-big"):
            conn.sendall(response(200, b" " * 5000))
        else:
            status = {"401": 401, "403": 403, "5xx": 503}[case.split("-")[-1]]
            conn.sendall(response(status, {"status": status, "message": "no"}))
        return True

    return handle


WALKER_CASES = ["401", "403", "5xx", "refused", "timeout", "redirect", "too-big"]
WALKER_RUNS = [
    *[("thrive-basic", case) for case in WALKER_CASES],
    *[("thrive-oauth", case) for case in WALKER_CASES],
    *[("thrive-oauth", f"token-{case}") for case in ("401", "5xx", "timeout", "bad-token")],
    *[("unless", case) for case in WALKER_CASES],
]


@pytest.mark.parametrize(("loader", "case"), WALKER_RUNS, ids=[f"{a}-{b}" for a, b in WALKER_RUNS])
def test_no_frame_of_a_failed_load_holds_a_revealed_secret(serve, loader, case):
    server = serve(_hostile(case))
    url = server.url
    if case == "refused":
        server.close()  # nothing listens there any more
    options: dict[str, Any] = {"progress": False, "max_retries": 1, "timeout": 0.5}
    if case.endswith("too-big"):
        options["max_body_bytes"] = 4096
    with pytest.raises(af.AudframeError) as info:
        _walker_load(loader, url, **options)
    assert revealed_in_frames(info.value, _walker_secrets()) == []


def _walker_load(loader: str, url: str, **options: Any) -> Any:
    if loader == "unless":
        websites = ["w1", "w2"]  # two calls at once: the error comes from a worker thread
        email = "walker@example.com"
        return load_unless_audiences(API_KEY, email, "acc", websites, base_url=url, **options)
    if loader == "thrive-basic":
        credentials = {"api_secret": SECRET}
    else:
        credentials = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return af.load_thrive_audiences(TENANT, base_url=f"{url}/rest/v1", **credentials, **options)


def test_the_walker_finds_a_revealed_secret():
    # The test above means something only if the walker sees what it looks for.
    def deep(headers: dict[str, Any]) -> None:
        nested = [("x", {"k": headers})]  # noqa: F841 - found through the frame's locals
        raise ValueError("boom")

    try:
        try:
            deep({"x-api-key": API_KEY})
        except ValueError as exc:
            raise af.ApiError("wrapped", endpoint="GET /") from exc
    except af.ApiError as exc:
        found = revealed_in_frames(exc, {"key": API_KEY})
    assert any(":deep:headers" in where for where in found)
    assert any(":deep:nested" in where for where in found)


# ---- issue 12.5: what a server sent is printed as data ------------------------------------------

HOSTILE_TEXT = "\x1b[2J\x1b]0;owned\x07\nINFO audframe: forged line\u202e"


def test_a_vendor_message_and_reason_are_shown_escaped(requests_mock):
    requests_mock.get(
        f"{THRIVE_API}/audiences",
        status_code=400,
        reason="Bad\x1b[31mRequest",
        json={"status": 400, "message": HOSTILE_TEXT},
    )
    with pytest.raises(af.ApiError) as info:
        af.load_thrive_audiences(TENANT, SECRET, progress=False)
    text = str(info.value)
    for raw in ("\x1b", "\x07", "\n", "\u202e"):
        assert raw not in text
    assert "\\x1b[2J\\x1b]0;owned\\x07\\nINFO audframe: forged line\\u202e" in text
    assert "Bad\\x1b[31mRequest" in text


_HOSTILE_KEY = "evil\nINFO audframe: forged\x1b[31m"


def test_a_body_key_with_a_newline_forges_no_log_line_under_verbose(serve, tmp_path):
    server = serve(answer(200, {_HOSTILE_KEY: 1}))
    env = {"THRIVE_TENANT_ID": TENANT, "THRIVE_API_SECRET": SECRET}
    args = ["thrive", "-v", "--out", str(tmp_path), "--base-url", f"{server.url}/rest/v1"]
    done = _run_cli([*args, "--max-retries", "1"], env)
    assert done.returncode == 3
    assert "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert any("evil\\nINFO audframe: forged\\x1b[31m" in line for line in lines)
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ |audframe: error: ", line), line


def test_the_audit_text_shows_names_from_the_data_as_data(tmp_path):
    records = [
        {"id": "a" * 24, "name": HOSTILE_TEXT, "reference": "s\x1b[31m", "category": "structure"},
        {"id": "b" * 24, "name": "x", "category": "audience", "parent": {"id": "c" * 24}},
    ]
    df = af.normalize_thrive(records)
    df.attrs["tenant_id"] = "t1"
    af.to_parquet(df, tmp_path)
    out = io.StringIO()
    run_audit(tmp_path, out=out)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\\x1b[2J\\x1b]0;owned\\x07\\nINFO audframe: forged line\\u202e" in text
    assert not any(line.startswith("INFO audframe: forged") for line in text.splitlines())


def test_the_cli_summary_is_one_json_line_whatever_the_server_sent(serve, tmp_path):
    record = {"ruleId": "r1", "name": HOSTILE_TEXT, "audienceTags": [HOSTILE_TEXT]}
    server = serve(answer(200, {"audiences": [record]}))
    env = {
        "UNLESS_API_KEY": API_KEY,
        "UNLESS_USER_EMAIL": "me@example.com",
        "UNLESS_ACCOUNT_ID": "acc",
        "UNLESS_WEBSITE_ID": "w1",
    }
    done = _run_cli(["unless", "--out", str(tmp_path), "--base-url", server.url], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert json.loads(done.stdout)["rows"]["unless/tags"] == 1
    assert "\x1b" not in done.stdout


# ---- messages speak the user's language: keywords to a Python caller ---------------------------


def test_a_missing_credential_names_the_keyword_in_python():
    with pytest.raises(af.InputError) as info:
        af.load_thrive_audiences(progress=False)
    assert str(info.value) == (
        "no Thrive tenant id: pass tenant_id=..., or set the environment variable THRIVE_TENANT_ID"
    )
    with pytest.raises(af.InputError) as info:
        af.load_unless_audiences(progress=False)
    assert str(info.value) == (
        "no Unless API key: pass api_key=..., or set the environment variable UNLESS_API_KEY"
    )
    with pytest.raises(af.InputError, match=r"or pass api_secret=, or client_id= and client_sec"):
        af.load_thrive_audiences("eu-west-2_AbcdEfghI", progress=False)
