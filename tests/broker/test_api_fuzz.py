"""The API under a schema-driven fuzzer (schemathesis on /api/schema/): no input makes it answer 5xx, and
responses conform to the schema where it describes them. Examples are bounded to keep the suite fast."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES_PER_OPERATION = 5


schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def test_connection_kept():
    """The fuzzer calls the WSGI app directly, and Django closes the connection after each request
    (CONN_MAX_AGE=0); the test's transaction lives on that connection, so keep it open as Django's own
    test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case, owner, test_connection_kept):
    case.call_and_validate(headers={"Authorization": f"Bearer {owner.token}"},
                           checks=[not_a_server_error, response_schema_conformance])
