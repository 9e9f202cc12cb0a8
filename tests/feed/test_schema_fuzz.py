"""Schema fuzzing: every operation the app publishes, driven in-process by schemathesis.

Each generated request must not fail with a 5xx, and its status code and body must
match the OpenAPI the app publishes (an undeclared status code is a failure too).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from support import LABELLED

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.settings import Settings

ADMIN = "fuzz-admin-token"
ADMIN_PATHS = {"/v1/gaps", "/v1/gaps/{gap_id}/fill"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _published_operations() -> list[tuple[str, str]]:
    """(METHOD, path) for every operation in the app's OpenAPI, read at collection time.

    Building the app is cheap when its engine, service and filler are handed in, and
    the OpenAPI never touches them; the real ones are built by the fixture below.
    """
    stub = object()
    app = create_app(Settings(), stub, stub, stub)  # type: ignore[arg-type]
    return sorted(
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    )


# What a hostile client sends that the schema cannot describe: numbers JSON has no
# words for (written raw, as Python's json writes them), strings no UTF-8 encoder can
# write, and path parameters far past any limit.
HOSTILE_VALUES = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), "\ud800", "a\udfffb", "\udbff\udc00x\ud800",
     10**400, {"\ud800": 1}, ["\udc00"]]
)  # fmt: skip
HOSTILE_PATHS = st.sampled_from(
    ["a" * 65, "x" * 5000, "@" + "a" * 64, "＠ａｌｉｃｅ", "al\u200bice", "..", "%2e%2e%2f", "a/b"]
)
# Path parameters that turn the URL into another one (a dot segment the client resolves,
# a slash that adds a segment): the request no longer addresses the operation, so only
# "no 5xx" is checked, not the operation's published status codes.
ELSEWHERE = {"..", "%2e%2e%2f", "a/b"}


@st.composite
def hostile(draw, case):
    """The case with one JSON value, or one path parameter, replaced by something hostile."""
    case.headers = dict(case.headers or {})
    if case.path_parameters and (not isinstance(case.body, dict) or draw(st.booleans())):
        name = draw(st.sampled_from(sorted(case.path_parameters)))
        case.path_parameters = {**case.path_parameters, name: draw(HOSTILE_PATHS)}
        return case
    if isinstance(case.body, dict):
        body = dict(case.body)
        key = draw(st.sampled_from(sorted(body) or ["extra"]))
        body[key] = draw(HOSTILE_VALUES)
        case.body = json.dumps(body, ensure_ascii=True).encode()  # NaN stays NaN
        case.headers["Content-Type"] = "application/json"
    return case


# schemathesis' own pytest integration (`from_fixture`, `parametrize`) does not run on
# pytest 9, so each operation is a parametrized test running a hypothesis loop.
OPERATIONS = _published_operations()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, text_encoder):
    """The real app over a small labelled catalog, with one signed-up user."""
    home = tmp_path_factory.mktemp("schema-fuzz")
    engine = ClipStore(home, text_encoder, None)
    rows = [
        {"id": cid, "prompt": prompt, "creator": f"maker{i % 3}", "tags": [label]}
        for i, (cid, prompt, label) in enumerate(LABELLED)
    ]
    engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(rows, 1)])
    app = create_app(Settings(home=home, admin_token=ADMIN, run_jobs_in_background=False), engine)
    with TestClient(app) as client:
        r = client.post("/v1/users", json={"handle": "fuzzer"})
        assert r.status_code == 201, r.text
        app.state.fuzz_token = r.json()["token"]
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_the_fuzzed_operations_cover_the_api():
    assert ("GET", "/v1/feed") in OPERATIONS and ("POST", "/v1/steer") in OPERATIONS
    assert len(OPERATIONS) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["valid-token", "generated", "hostile"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_matches_its_published_schema(api_schema, fuzz_app, method, path, auth):
    """With a valid token (the admin's on admin routes) the routes' own logic is reached;
    with whatever Authorization header schemathesis generates, the auth failures are; and
    with a valid token, hostile values (NaN, lone surrogates, long path parameters) must
    be refused in the published shapes, never with a 5xx."""
    token = ADMIN if path in ADMIN_PATHS else fuzz_app.state.fuzz_token
    strategy = api_schema[path][method].as_strategy()
    if auth == "hostile":
        strategy = strategy.flatmap(hostile)

    @given(case=strategy)
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call_and_check(case):
        if auth != "generated":
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        elsewhere = ELSEWHERE & set((case.path_parameters or {}).values())
        case.call_and_validate(checks=[not_a_server_error] if elsewhere else CHECKS)

    call_and_check()
