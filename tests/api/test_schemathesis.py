"""Schemathesis generates requests from the served OpenAPI schema and sends them to a live test server over real
HTTP: no answer may be a 500, and every answer (status code and body) must be one the schema documents."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.api.conftest import token_client
from tests.factories import make_job

pytestmark = pytest.mark.integration


@pytest.fixture
def api_schema(live_server, operator, sim_endpoint, sends_enqueued, settings):
    """The schema as served to an operator's token, with a job and a simulator endpoint to act on."""
    settings.API_RATE_LIMIT = 0
    make_job(endpoint=sim_endpoint, status="FAILED")
    raw = token_client(operator).raw_token
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/v1/openapi.json", headers={"Authorization": f"Bearer {raw}"}
    )
    schema.token = raw
    schema.base = live_server.url
    return schema


def test_no_generated_request_gets_a_500_or_an_answer_outside_the_schema(api_schema):
    """Positive and negative examples of every operation answer within the schema, never with a server error."""
    headers = {"Authorization": f"Bearer {api_schema.token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        # Valid requests and requests that break the schema on purpose (wrong types, missing fields, bad values).
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

        @given(case=cases)
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(
                base_url=api_schema.base,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

        check()
