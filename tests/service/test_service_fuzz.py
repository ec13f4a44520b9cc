"""Property-based fuzzing of the service from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid ones (positive) and invalid ones (negative);
each response must not be a 5xx and must conform to the schema: a documented status code,
a body matching the response model, the declared content type. Examples per operation are
bounded so the module stays well under a minute.

Cases are drawn from ``operation.as_strategy()`` inside one Hypothesis test per operation
rather than with ``schemathesis.pytest.from_fixture``, whose lazy fixture loading does not
work with pytest 9.2 (it reads a private ``_nodeid`` attribute that pytest removed).
"""

from __future__ import annotations

import pytest
import schemathesis
from helpers import train_tiny_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from movierec.service.app import create_app

EXAMPLES_PER_OPERATION = 100

OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/users"),
    ("GET", "/users/{user_id}/recommendations"),
    ("POST", "/recommendations"),
    ("GET", "/movies"),
    ("GET", "/movies/{movie_id}/similar"),
    ("POST", "/predict"),
    ("POST", "/admin/reload"),  # without the token: 401, nothing reloads
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    run_dir = train_tiny_run(tmp_path_factory.mktemp("fuzz") / "run")
    # Invalid requests must be refused with one of these (413: a body over the size limit,
    # e.g. 1001 pairs with long string ids, is refused before it is parsed).
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
        "expected-statuses": ["400", "401", "404", "413", "422"]}}})
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(run_dir), config=config)


def test_every_operation_is_fuzzed(api_schema) -> None:
    documented = {(method.upper(), path) for path, item in api_schema.raw_schema["paths"].items()
                  for method in item}
    assert documented == set(OPERATIONS)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors_and_responses_match_the_schema(api_schema, method: str,
                                                         path: str) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case) -> None:
        case.call_and_validate()

    check()


STORE_OPERATIONS = [
    ("POST", "/users/{user_id}/ratings"),
    ("GET", "/users/{user_id}/ratings"),
    ("DELETE", "/users/{user_id}/ratings/{movie_id}"),
    ("GET", "/users/{user_id}/recommendations"),
]


@pytest.fixture(scope="module")
def store_schema(tmp_path_factory: pytest.TempPathFactory):
    """The app with a ratings store; requests carry the write token, so bodies get past
    the 401 and are checked for real (503 is the store's documented failure)."""
    from helpers import synthetic_ratings

    from movierec.service.auth import WriteToken
    from movierec.store import create_store

    folder = tmp_path_factory.mktemp("fuzz-store")
    run_dir = train_tiny_run(folder / "run")
    store = create_store(folder / "r.sqlite", synthetic_ratings().iloc[:0], id_kind="int")
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
        "expected-statuses": ["400", "401", "404", "413", "422"]}}})
    app = create_app(run_dir, token=WriteToken("fuzz"), store=store)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), STORE_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in STORE_OPERATIONS])
def test_the_store_endpoints_never_fail_with_a_server_error(store_schema, method: str,
                                                            path: str) -> None:
    operation = store_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case) -> None:
        case.call_and_validate(headers={"Authorization": "Bearer fuzz"})

    check()
