"""HttpClient on its own: every retry rule, every Retry-After form, redirects, and a map's stop.

requests' transport is replaced by a plain function from request to response (as httpx's
MockTransport does), mounted on the session the client is given: no socket, no loader. What only
a real socket shows (deadlines, size caps over the wire, TLS, DNS) is in test_transport.py.
Retries wait on a clock that does not tick (conftest): the waits are read instead.
"""

from __future__ import annotations

import email.utils
import inspect
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

import audframe as af
from audframe.errors import ApiError, AuthError, InputError, ResponseError
from audframe.http import (
    MAX_BODY_BYTES,
    BasicAuth,
    HeaderAuth,
    HttpClient,
    OAuth2ClientCredentials,
    Retry,
    Secret,
    client,
    parse_retry_after,
    retry,
)
from audframe.http.client import Submit

from ._at_once import AtOnce

API = "https://api.example.com/v1"
SECRET = "s3cr3t-VALUE-xyz"
KEY = "api-KEY-789-abc"
REAL_SLEEP = client._sleep  # before conftest patches it for each test

Handler = Callable[[requests.PreparedRequest], "requests.Response | BaseException"]


class FakeTransport(BaseAdapter):
    """requests' adapter as a plain function: ``handler(request)`` gives the response (or an
    exception to raise, as a real transport would). Every request it sees is kept."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.requests.append(request)
        result = self.handler(request)
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        pass


def reply(
    request: requests.PreparedRequest,
    status: int = 200,
    body: bytes | dict[str, Any] | list[Any] = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str | None = None,
) -> requests.Response:
    """A whole response to ``request``, its body unread (as with ``stream=True``)."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    response = requests.Response()
    response.status_code = status
    response.reason = reason if reason is not None else requests.status_codes._codes[status][0]
    response.headers = CaseInsensitiveDict(headers or {})
    response.raw = io.BytesIO(body)
    response.url = request.url or ""
    response.request = request
    return response


@pytest.fixture
def transport() -> Iterator[Callable[..., tuple[HttpClient, FakeTransport]]]:
    """``transport(handler, **client_options)``: a client whose every request goes to
    ``handler``; the default auth sends ``Authorization``, a key header and a secret."""
    made: list[HttpClient] = []

    def make(handler: Handler, **options: Any) -> tuple[HttpClient, FakeTransport]:
        fake = FakeTransport(handler)
        session = requests.Session()
        session.mount("https://", fake)
        session.mount("http://", fake)
        options.setdefault("auth", _header_auth())
        options.setdefault("max_workers", 1)
        made.append(
            HttpClient(options.pop("base_url", API), source="test", session=session, **options)
        )
        return made[-1], fake

    yield make
    for each in made:
        each.close()


def _header_auth() -> HeaderAuth:
    return HeaderAuth(
        {"Authorization": Secret(f"Bearer {SECRET}"), "x-api-key": Secret(KEY)},
        hint="check the API key",
    )


def ok(body: Any = None) -> Handler:
    return lambda request: reply(request, 200, {"ok": True} if body is None else body)


def sequence(*answers: Handler) -> Handler:
    """Each request gets the next answer; the last one repeats."""
    queue = list(answers)

    def handle(request: requests.PreparedRequest) -> requests.Response | BaseException:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request)

    return handle


def status(code: int, body: Any = b"", **headers: str) -> Handler:
    return lambda request: reply(request, code, body, headers)


def raising(error: BaseException) -> Handler:
    return lambda request: error


def parse_json(body: bytes) -> Any:
    return json.loads(body)


# ---- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504], ids=str)
def test_a_retry_status_is_retried_then_the_answer_comes(transport, waits, code):
    client, fake = transport(sequence(status(code, "busy"), ok()))
    assert client.get("/things", parse=parse_json) == {"ok": True}
    assert len(fake.requests) == 2
    assert len(waits) == 1
    assert 0 <= waits[0] <= 0.5  # full jitter under the first ceiling


def test_a_server_that_stays_down_is_given_up_on_after_max_retries(transport, waits):
    client, fake = transport(status(503, "down"), max_retries=3)
    with pytest.raises(ApiError) as info:
        client.get("/things", {"page": 1}, parse=parse_json)
    assert not isinstance(info.value, ResponseError)
    assert info.value.status == 503
    assert "gave up after 4 tries; the last one got HTTP 503" in str(info.value)
    assert info.value.endpoint == f"GET {API}/things?page=1"
    assert len(fake.requests) == 4
    assert len(waits) == 3
    # Full jitter under an exponential ceiling: 0.5 s, 1 s, 2 s.
    assert all(0 <= wait <= 0.5 * 2**i for i, wait in enumerate(waits))


def test_no_retries_with_max_retries_0(transport, waits):
    client, fake = transport(status(503), max_retries=0)
    with pytest.raises(ApiError, match="gave up after 1 try;"):
        client.get("/things", parse=parse_json)
    assert (len(fake.requests), waits) == (1, [])


@pytest.mark.parametrize(
    ("code", "error", "message", "cls"),
    [
        (400, "Bad Request", "perPage must be <= 1000", ApiError),
        (401, "Unauthorized", "Invalid credentials", AuthError),
        (403, "Forbidden", {"reason": "scope api/read missing"}, AuthError),
        (404, "Not Found", "no such thing", ApiError),
        (409, "Conflict", "busy elsewhere", ApiError),
        (422, "Unprocessable Content", "apiControlled must be a boolean", ApiError),
    ],
    ids=["400", "401", "403", "404", "409", "422"],
)
def test_another_4xx_is_not_retried_and_says_status_endpoint_and_vendor_message(
    transport, waits, code, error, message, cls
):
    body = {"status": code, "error": error, "message": message}
    client, fake = transport(status(code, body))
    with pytest.raises(cls) as info:
        client.get("/things", {"page": 1}, parse=parse_json)
    text = str(info.value)
    assert info.value.status == code
    assert info.value.hint
    assert f"HTTP {code}" in text
    assert f"GET {API}/things?page=1" in text
    expected = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    assert expected in text
    assert info.value.vendor_message == expected
    assert info.value.hint in text
    if cls is AuthError:
        assert info.value.hint == "Check the API key"  # the auth's own hint
    assert (len(fake.requests), waits) == (1, [])  # 4xx is never retried
    assert SECRET not in text
    assert KEY not in text


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (requests.exceptions.ChunkedEncodingError("IncompleteRead(100 bytes read)"), "a body cut"),
        (requests.exceptions.ContentDecodingError("bad gzip"), "a body that could not be decoded"),
        (requests.exceptions.ConnectionError("Connection reset by peer"), "reset by peer"),
        (requests.exceptions.ConnectionError("Connection refused"), "Connection refused"),
        (requests.exceptions.ReadTimeout("read timed out"), "a timeout"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "a timeout"),
    ],
    ids=["body-cut-short", "undecodable", "reset", "refused", "read-timeout", "connect-timeout"],
)
def test_a_transport_error_is_retried_then_given_up_on(transport, waits, error, said):
    client, fake = transport(sequence(raising(error), ok()))
    assert client.get("/things", parse=parse_json) == {"ok": True}
    assert len(waits) == 1

    client, fake = transport(raising(error), max_retries=2)
    with pytest.raises(ApiError) as info:
        client.get("/things", parse=parse_json)
    assert info.value.status is None
    assert "gave up after 3 tries; the last one got " in str(info.value)
    assert said in str(info.value)
    assert len(fake.requests) == 3


def test_an_error_no_retry_could_mend_is_raised_at_once(transport, waits):
    client, fake = transport(raising(requests.exceptions.InvalidHeader("bad header value")))
    with pytest.raises(ApiError, match="could not be sent") as info:
        client.get("/things", parse=parse_json)
    assert info.value.hint == "Check the URL and the credentials' format"
    assert (len(fake.requests), waits) == (1, [])


def test_a_malformed_body_is_retried_then_a_response_error(transport, waits):
    def parse(body: bytes) -> Any:
        data = json.loads(body)  # ValueError for an HTML page
        if "results" not in data:
            raise ValueError("expected `results`")
        return data

    page = b"<html><body>Gateway says hi</body></html>"
    client, fake = transport(sequence(status(200, page), ok({"results": []})))
    assert client.get("/things", parse=parse) == {"results": []}
    assert len(waits) == 1

    client, fake = transport(status(200, page), max_retries=2)
    with pytest.raises(ResponseError) as info:
        client.get("/things", {"page": 1}, parse=parse)
    text = str(info.value)
    assert "gave up after 3 tries; the last one got a malformed body (" in text
    assert f"GET {API}/things?page=1" in text
    assert info.value.status == 200
    assert len(fake.requests) == 3


def test_a_401_renews_the_credential_once(transport):
    class Renewing(HeaderAuth):
        renewals = 0

        def refresh(self, client: HttpClient, used: Any) -> bool:
            Renewing.renewals += 1
            return True

    auth = Renewing({"Authorization": Secret("Bearer old-token")}, hint="renew it")
    client, fake = transport(sequence(status(401), ok()), auth=auth)
    assert client.get("/things", parse=parse_json) == {"ok": True}
    assert Renewing.renewals == 1

    client, fake = transport(status(401), auth=auth)
    with pytest.raises(AuthError):
        client.get("/things", parse=parse_json)
    assert Renewing.renewals == 2  # once per request: a second 401 is the answer
    assert len(fake.requests) == 2

    # The API took this credential before, but a renewal that gives it back is no renewal.
    client, fake = transport(sequence(ok(), status(401)), auth=auth)
    client.get("/took", parse=parse_json)
    with pytest.raises(AuthError):
        client.get("/things", parse=parse_json)
    assert Renewing.renewals == 3
    assert len(fake.requests) == 3


class _Rotating(HeaderAuth):
    """A new bearer at each renewal; ``on_renewal`` runs right after it."""

    def __init__(self, on_renewal: Callable[[], object] = lambda: None) -> None:
        super().__init__({"Authorization": Secret("Bearer token-0")}, hint="renew it")
        self.renewals = 0
        self.on_renewal = on_renewal

    def refresh(self, client: HttpClient, used: Any) -> bool:
        self.renewals += 1
        self._headers = {"Authorization": Secret(f"Bearer token-{self.renewals}")}
        self.on_renewal()
        return True


def test_a_renewed_token_used_up_by_other_requests_before_its_own_is_renewed_again(transport):
    # token-1, renewed for /mine, serves another request and runs out before /mine goes: the
    # API took it, so its 401 says it expired, not that the credentials are refused.
    took = {"token-0": 0, "token-1": 1, "token-2": 1}  # requests each token may still make

    def handle(request: requests.PreparedRequest) -> requests.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if took[token] == 0:
            return reply(request, 401, {"message": "The access token expired"})
        took[token] -= 1
        return reply(request, 200, {"path": request.path_url})

    auth = _Rotating(
        on_renewal=lambda: auth.renewals == 1 and client.get("/other", parse=parse_json)
    )
    client, fake = transport(handle, auth=auth)
    assert client.get("/mine", parse=parse_json) == {"path": "/v1/mine"}
    assert auth.renewals == 2
    sent = [(r.path_url, r.headers["Authorization"]) for r in fake.requests]
    assert sent == [
        ("/v1/mine", "Bearer token-0"),
        ("/v1/other", "Bearer token-1"),
        ("/v1/mine", "Bearer token-1"),
        ("/v1/mine", "Bearer token-2"),
    ]


def test_a_request_refused_whatever_token_it_sends_renews_three_times_at_most(transport):
    # Each renewed token serves another request, so each 401 on /mine is on a token the API
    # took: still, /mine gives up after three renewals instead of asking for tokens forever.
    def handle(request: requests.PreparedRequest) -> requests.Response:
        if request.path_url.endswith("/mine"):
            return reply(request, 401, {"message": "Not for you"})
        return reply(request, 200, {"ok": True})

    auth = _Rotating(on_renewal=lambda: client.get("/other", parse=parse_json))
    client, fake = transport(handle, auth=auth)
    client.get("/other", parse=parse_json)
    with pytest.raises(AuthError, match="Not for you"):
        client.get("/mine", parse=parse_json)
    assert auth.renewals == 3
    assert [r.path_url for r in fake.requests].count("/v1/mine") == 4


def test_a_token_refused_before_the_api_took_it_is_renewed_once(transport):
    # Without a request in between, the renewed token is refused fresh: the credentials are.
    auth = _Rotating()
    client, fake = transport(sequence(ok(), status(401)), auth=auth)
    client.get("/took", parse=parse_json)  # token-0 was good once
    with pytest.raises(AuthError):
        client.get("/things", parse=parse_json)
    assert auth.renewals == 1
    assert len(fake.requests) == 3


# ---- Retry-After ---------------------------------------------------------------------------------

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


@pytest.fixture
def ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff draws its ceiling, not a random time under it."""
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)


def test_retry_after_in_seconds_is_waited(transport, waits):
    client, _ = transport(sequence(status(429, {"status": 429}, **{"Retry-After": "7"}), ok()))
    client.get("/things", parse=parse_json)
    assert waits == [7.0]


def test_retry_after_as_an_http_date(transport, waits):
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    client, _ = transport(
        sequence(status(429, **{"Retry-After": past}), status(503, **{"Retry-After": soon}), ok())
    )
    client.get("/things", parse=parse_json)
    assert waits[0] == 0.0  # a date in the past: go now
    assert 25 <= waits[1] <= 30


def test_without_retry_after_the_backoff_doubles(transport, waits, ceiling):
    client, _ = transport(sequence(status(429), status(503), status(503), ok()))
    client.get("/things", parse=parse_json)
    assert waits == [0.5, 1.0, 2.0]


def test_retry_after_is_capped(transport, waits):
    client, _ = transport(sequence(status(429, **{"Retry-After": "3600"}), ok()))
    client.get("/things", parse=parse_json)
    assert waits == [120.0]


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER)
def test_an_absurd_retry_after_is_normal_backoff(transport, waits, ceiling, value):
    assert parse_retry_after(value) is None
    assert Retry().delay(2, value) == 2.0  # the backoff ceiling for retry 3, not "now"
    client, _ = transport(sequence(status(429, **{"Retry-After": value}), ok()))
    client.get("/things", parse=parse_json)
    assert waits == [0.5]  # the first backoff's ceiling: not "retry at once"


def test_sane_retry_after_values_are_kept():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: now
    assert Retry().delay(0, "3600") == 120.0  # capped


# ---- redirects -----------------------------------------------------------------------------------

REDIRECTS = [301, 302, 303, 307, 308]


def _moved(code: int, location: str) -> Handler:
    return status(code, b"", Location=location)


def _auths() -> dict[str, Any]:
    return {
        "basic": BasicAuth("user-1", Secret(SECRET), hint="check it"),
        "bearer": _header_auth(),
        "headers": HeaderAuth(
            {"x-api-key": Secret(KEY), "x-user-email": Secret("me@x.example")}, hint=""
        ),
    }


@pytest.mark.parametrize("code", REDIRECTS, ids=lambda c: f"http-{c}")
@pytest.mark.parametrize("kind", list(_auths()))
def test_a_redirect_on_the_same_host_keeps_every_header(transport, code, kind):
    client, fake = transport(sequence(_moved(code, "/v2/things?page=1"), ok()), auth=_auths()[kind])
    client.get("/things", {"page": 1}, headers={"x-website-id": "w1"}, parse=parse_json)
    first, second = fake.requests
    assert second.url == "https://api.example.com/v2/things?page=1"
    assert second.method == "GET"
    for name, value in first.headers.items():
        assert second.headers[name] == value


@pytest.mark.parametrize("code", REDIRECTS, ids=lambda c: f"http-{c}")
@pytest.mark.parametrize("kind", list(_auths()))
def test_a_redirect_to_another_host_carries_none_of_the_request_s_headers(transport, code, kind):
    client, fake = transport(
        sequence(_moved(code, "https://cdn.example.net/things?page=1"), ok()), auth=_auths()[kind]
    )
    client.get("/things", {"page": 1}, headers={"x-website-id": "w1"}, parse=parse_json)
    first, second = fake.requests
    session = set(requests.Session().headers)  # what the (caller's) session adds to each
    own = set(first.headers) - session
    assert own  # the auth's headers and the vendor's one were sent to the API ...
    assert "x-website-id" in own
    assert second.url == "https://cdn.example.net/things?page=1"
    assert own.isdisjoint(second.headers)  # ... and none of them to the other host
    assert {name: second.headers[name] for name in session} == {
        name: first.headers[name] for name in session
    }
    wire = json.dumps(dict(second.headers))
    for secret in (SECRET, KEY, "me@x.example", "dXNlci0x"):
        assert secret not in wire


def test_a_303_turns_a_post_into_a_get_without_its_body(transport):
    client, fake = transport(sequence(_moved(303, "/done"), ok()))
    form = {"grant_type": "client_credentials", "client_secret": Secret(SECRET)}
    client.request("POST", f"{API}/token", data=form, auth=False, parse=parse_json)
    first, second = fake.requests
    assert (first.method, second.method) == ("POST", "GET")
    assert SECRET in first.body
    assert second.body is None
    assert second.url == "https://api.example.com/done"


@pytest.mark.parametrize("code", [307, 308], ids=["http-307", "http-308"])
@pytest.mark.parametrize("in_body", [False, True], ids=["basic", "in-body"])
def test_a_request_body_never_goes_to_another_host(transport, code, in_body):
    # 307 and 308 keep the method and the body: a form holding a client secret must not go.
    client, fake = transport(sequence(_moved(code, "https://idp.example/t"), ok()))
    form: dict[str, Any] = {"grant_type": "client_credentials"}
    headers: dict[str, Any] = {}
    if in_body:
        form["client_secret"] = Secret(SECRET)
    else:
        headers["Authorization"] = Secret(f"Basic {SECRET}")
    with pytest.raises(ApiError, match="another host") as info:
        client.request(
            "POST", f"{API}/token", data=form, headers=headers, auth=False, parse=parse_json
        )
    assert not isinstance(info.value, InputError)
    assert info.value.endpoint == f"POST {API}/token"
    assert info.value.status == code
    assert [r.url for r in fake.requests] == [f"{API}/token"]  # idp.example never asked


def test_more_than_five_redirects_are_an_error(transport):
    hops = iter(range(100))
    client, fake = transport(
        lambda request: reply(request, 302, headers={"Location": f"/hop/{next(hops)}"})
    )
    with pytest.raises(ApiError, match="more than 5 redirects") as info:
        client.get("/things", parse=parse_json)
    assert info.value.status == 302
    assert len(fake.requests) == 6


BAD_LOCATIONS = {
    "ipv6-unclosed": "http://[::1/x",
    "port-99999": "https://api.example.com:99999/x",
    "port-abc": "https://api.example.com:abc/x",
    "empty-host": "https:///x",
    "ftp": "ftp://api.example.com/x",
    "javascript": "javascript:alert(1)",
    "escape-sequence": "ftp://x/\x1b[2J\x1b]0;pwned\x07",
    "plain-http": "http://cdn.example.net/a",
}


@pytest.mark.parametrize("location", list(BAD_LOCATIONS.values()), ids=list(BAD_LOCATIONS))
def test_a_redirect_audframe_will_not_follow_is_one_api_error_naming_it(transport, location):
    client, fake = transport(_moved(302, location))
    with pytest.raises(ApiError) as info:
        client.get("/things", {"page": 1}, parse=parse_json)
    text = str(info.value)
    # The server's doing, not the user's: an ApiError (exit 3), not an InputError.
    assert not isinstance(info.value, InputError)
    assert info.value.endpoint.startswith(f"GET {API}/things?page=1")
    assert text.startswith(f"GET {API}/things?page=1")
    assert "HTTP 302: redirected to " in text
    assert "\x1b" not in text
    assert "\x07" not in text
    assert len(fake.requests) == 1


def test_a_redirect_to_plain_http_off_loopback_names_where_it_led(transport):
    client, fake = transport(_moved(302, "http://cdn.example.net/a"))
    with pytest.raises(ApiError, match="plain http://") as info:
        client.get("/things", parse=parse_json)
    assert not isinstance(info.value, InputError)
    assert "http://cdn.example.net/a" in str(info.value)
    assert len(fake.requests) == 1


LOOPBACK_TARGETS = [
    "http://127.0.0.1:8080/admin",
    "http://127.9.9.9/x",
    "https://127.0.0.1/x",
    "http://localhost:6379/",
    "https://api.localhost/x",
    "http://[::1]:8080/x",
]


@pytest.mark.parametrize("target", LOOPBACK_TARGETS)
def test_a_remote_host_cannot_redirect_to_loopback(transport, target):
    client, fake = transport(_moved(302, target))
    with pytest.raises(ApiError, match="only a loopback origin may redirect") as info:
        client.get("/things", parse=parse_json)
    assert not isinstance(info.value, InputError)
    assert len(fake.requests) == 1


def test_loopback_may_redirect_to_loopback(transport):
    client, fake = transport(
        sequence(_moved(302, "http://localhost:8765/v2/things"), ok()),
        base_url="http://127.0.0.1:8765/v1",
    )
    assert client.get("/things", parse=parse_json) == {"ok": True}
    assert [r.url for r in fake.requests] == [
        "http://127.0.0.1:8765/v1/things",
        "http://localhost:8765/v2/things",
    ]


# ---- OAuth2 through the client -------------------------------------------------------------------


def test_a_bearer_token_is_fetched_once_and_sent_only_to_its_host(transport):
    def handle(request: requests.PreparedRequest) -> requests.Response:
        if request.url.endswith("/token"):
            return reply(request, 200, {"access_token": "bearer-abcdef-123", "expires_in": 60})
        if request.url.startswith(API):
            return reply(request, 307, headers={"Location": "https://mirror.example.org/t"})
        return reply(request, 200, {"ok": True})

    auth = OAuth2ClientCredentials(f"{API}/token", "cid", Secret(SECRET), scope="r", hint="")
    client, fake = transport(handle, auth=auth)
    assert client.get("/things", parse=parse_json) == {"ok": True}
    token, api, mirror = fake.requests
    assert token.headers["Authorization"].startswith("Basic ")
    assert api.headers["Authorization"] == "Bearer bearer-abcdef-123"
    assert "Authorization" not in mirror.headers
    assert auth.tokens_fetched == 1


def test_a_request_waiting_for_its_turn_sends_the_token_current_when_it_goes(transport):
    # The third request waits for a slot while the first two hold both past the token's end.
    # It must renew the token when it goes, not send the one it saw before it waited
    # (a token near its end, or used up meanwhile, came back 401 after its renewal: CI).
    issued: list[str] = []
    refused: list[str] = []
    started = time.monotonic()

    def handle(request: requests.PreparedRequest) -> requests.Response:
        if request.url.endswith("/token"):
            issued.append(f"bearer-{len(issued)}-abcdef")
            return reply(request, 200, {"access_token": issued[-1], "expires_in": 1.0})
        if request.headers["Authorization"] != f"Bearer {issued[-1]}" or (
            len(issued) == 1 and time.monotonic() - started > 1.0
        ):
            refused.append(request.path_url)
            return reply(request, 401, {"message": "The access token expired"})
        if request.path_url.endswith("/first"):
            # The token's 1 s runs out while the third request waits (audframe renews it after
            # 0.5 s: the first two have that long to go, however busy the machine).
            time.sleep(1.2)
        return reply(request, 200, {"ok": True})

    auth = OAuth2ClientCredentials(f"{API}/token", "cid", Secret(SECRET), scope="r", hint="")
    client, _ = transport(handle, auth=auth, max_workers=2)
    paths = ["/a/first", "/b/first", "/third"]
    assert client.map(lambda path: client.get(path, parse=parse_json), paths) == [{"ok": True}] * 3
    assert refused == []
    assert auth.tokens_fetched == 2


# ---- map -----------------------------------------------------------------------------------------


def test_map_runs_up_to_max_workers_at_once_and_keeps_the_order(transport):
    requests_in = AtOnce()

    def handle(request: requests.PreparedRequest) -> requests.Response:
        return reply(request, 200, {"path": request.path_url})

    client, _ = transport(requests_in.wrap(handle, 0.05), max_workers=3)
    got = client.map(lambda i: client.get(f"/{i}", parse=parse_json)["path"], range(9))
    assert got == [f"/v1/{i}" for i in range(9)]
    assert requests_in.most == 3


def test_a_call_parsing_its_body_holds_no_request_slot(transport):
    # A page's parse used to hold its worker: the next request waited for it. Now the next
    # goes out while it parses, and still no more than max_workers are in flight at once.
    inside, most = [0], [0]
    lock = threading.Lock()
    parsing = threading.Barrier(3, timeout=10)  # two calls parsing while a third is sent
    sent_while_parsing: list[int] = []

    def handle(request: requests.PreparedRequest) -> requests.Response:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        if request.path_url.endswith("/2"):
            parsing.wait()  # sent while calls 0 and 1 hold their bodies
            sent_while_parsing.append(2)
        with lock:
            inside[0] -= 1
        return reply(request, 200, {"path": request.path_url})

    def slow_parse(body: bytes) -> Any:
        path = parse_json(body)["path"]
        if not path.endswith("/2"):
            parsing.wait()
        return path

    client, _ = transport(handle, max_workers=2)
    got = client.map(lambda i: client.get(f"/{i}", parse=slow_parse), range(3))
    assert got == ["/v1/0", "/v1/1", "/v1/2"]
    assert sent_while_parsing == [2]
    assert most[0] <= 2


def test_another_request_failing_stops_those_waiting_to_retry(transport, monkeypatch):
    monkeypatch.setattr(client, "_sleep", REAL_SLEEP)  # a real wait, which the stop must end
    waiting = threading.Event()

    def handle(request: requests.PreparedRequest) -> requests.Response:
        if request.path_url.endswith("/slow"):
            waiting.set()
            return reply(request, 503, headers={"Retry-After": "60"})
        waiting.wait(5)  # fail only once the other request is waiting to retry
        return reply(request, 400, {"message": "bad page"})

    http, fake = transport(handle, max_workers=2)
    errors: dict[str, ApiError] = {}

    def fetch(path: str) -> Any:
        try:
            return http.get(path, parse=parse_json)
        except ApiError as exc:
            errors[path] = exc
            raise

    started = time.perf_counter()
    with pytest.raises(ApiError) as info:
        http.map(fetch, ["/bad", "/slow"])
    assert time.perf_counter() - started < 10  # not the 60 s Retry-After
    assert info.value.status == 400  # the first error is the one raised
    assert "stopped: another request of this load failed" in str(errors["/slow"])
    assert [r.path_url for r in fake.requests].count("/v1/slow") == 1
    with pytest.raises(ApiError, match="stopped"):
        http.get("/later", parse=parse_json)  # a stopped load sends nothing more


# ---- status lines and logs -----------------------------------------------------------------------


def test_retries_are_told_on_the_status_line_and_in_the_log(transport, caplog):
    caplog.set_level(logging.INFO, logger="audframe")
    lines: list[str] = []
    client, _ = transport(sequence(status(503), status(503), ok()), status=lines.append)
    client.get("/things", parse=parse_json, label="page 1")
    assert lines[0].startswith("page 1: HTTP 503, retry 1 in ")
    assert lines[1].startswith("page 1: HTTP 503, retry 2 in ")
    assert lines[2:] == [""]  # cleared once the request is through
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert all(r.levelno == logging.INFO for r in retries)


# ---- settings ------------------------------------------------------------------------------------


def test_max_body_bytes_defaults_to_one_gib_everywhere(transport):
    assert MAX_BODY_BYTES == 2**30
    for loader in (af.load_thrive_audiences, af.load_unless_audiences):
        assert inspect.signature(loader).parameters["max_body_bytes"].default == 2**30
    client, _ = transport(ok())
    assert client.max_body_bytes == 2**30
    with pytest.raises(InputError, match="max_body_bytes"):
        transport(ok(), max_body_bytes=0)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_workers", 0, "max_workers must be a whole number >= 1"),
        ("max_workers", True, "max_workers must be a whole number >= 1"),
        ("max_retries", -1, "max_retries must be a whole number >= 0"),
        ("timeout", 0, "timeout must be a number of seconds > 0"),
        ("timeout", "30", "timeout must be a number of seconds > 0"),
        ("base_url", "http://api.example.com/v1", "plain http://"),
        ("base_url", "https://user:pw@api.example.com", "must not carry credentials"),
    ],
    ids=["workers-0", "workers-bool", "retries", "timeout-0", "timeout-text", "http", "userinfo"],
)
def test_bad_settings_are_input_errors(transport, option, value, message):
    with pytest.raises(InputError, match=message):
        transport(ok(), **{option: value})


def test_its_own_session_says_who_asks_and_wants_json():
    with HttpClient(API, source="test", auth=_header_auth()) as own:
        assert own.session.headers["User-Agent"].startswith(f"audframe/{af.__version__} ")
        assert own.session.headers["Accept"] == "application/json"


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="a Linux scheduling policy")
def test_pool_threads_are_not_switched_to_on_waking_and_the_callers_thread_is_left_alone():
    before = os.sched_getscheduler(0)
    with (
        HttpClient(API, source="test", auth=_header_auth(), max_workers=2) as client,
        client.pool() as submit,
    ):
        policies = [submit(os.sched_getscheduler, 0) for _ in range(4)]
        assert {future.result(10) for future in policies} == {os.SCHED_BATCH}
    assert os.sched_getscheduler(0) == before


def test_a_pool_starts_its_other_threads_when_told_and_its_calls_then_run_on_them():
    def pool_threads() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("audframe-warm")}

    busy = threading.Event()
    with (
        HttpClient(API, source="warm", auth=_header_auth(), max_workers=2) as client,
        client.pool() as submit,
    ):
        first = submit(busy.wait, 10)
        assert len(pool_threads()) == 1
        submit.start_threads()
        started = pool_threads()
        assert len(started) == 4  # 2 * max_workers, one of them busy
        later = [submit(lambda: threading.current_thread().name) for _ in range(6)]
        assert {f.result(10) for f in later} <= started  # run on those, no thread more
        busy.set()
        assert first.result(10)


def test_a_pool_whose_threads_cannot_all_start_is_not_left_waiting():
    # A thread that cannot start (or Ctrl-C) stops start_threads midway: those it started
    # must not wait for the rest for ever, or the pool's shutdown would.
    pool = ThreadPoolExecutor(4)
    submit, real = Submit(pool, 4), pool.submit
    calls = iter(range(100))

    def fails_second(fn: Any, *args: Any) -> Any:
        if next(calls) == 1:
            raise RuntimeError("can't start new thread")
        return real(fn, *args)

    pool.submit = fails_second  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="can't start"):
        submit.start_threads()
    ended = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    ended.start()
    ended.join(10)
    assert not ended.is_alive()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="a Linux scheduling policy")
def test_pool_threads_keep_a_policy_their_caller_chose():
    seen: list[int] = []

    def as_idle() -> None:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread only
        with (
            HttpClient(API, source="test", auth=_header_auth(), max_workers=2) as client,
            client.pool() as submit,
        ):
            seen.extend(submit(os.sched_getscheduler, 0).result(10) for _ in range(3))

    caller = threading.Thread(target=as_idle)
    caller.start()
    caller.join(10)
    assert seen == [os.SCHED_IDLE] * 3


def test_a_pool_told_no_more_calls_come_runs_those_it_has_and_takes_no_more():
    started = threading.Barrier(3)

    def call(n: int) -> int:
        if n < 2:
            started.wait(10)  # both workers busy when done() is said
        return n

    with (
        HttpClient(API, source="test", auth=_header_auth(), max_workers=2) as client,
        client.pool() as submit,
    ):
        futures = [submit(call, n) for n in range(6)]
        started.wait(10)
        submit.done()
        with pytest.raises(RuntimeError):
            submit(call, 6)
        assert [f.result(10) for f in futures] == list(range(6))
