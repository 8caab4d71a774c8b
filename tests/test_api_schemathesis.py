"""Property-based tests of the API against its own OpenAPI schema (schemathesis, in process).

Every operation is called with generated valid and invalid requests; checks include: no server
error, status codes, content types, headers and response bodies as documented, and invalid
requests rejected. `positive_data_acceptance` is left out: the schema cannot express every rule
of `parse_record` (no blank text, no NUL, ISO 8601 timestamps...), so a schema-valid request may
rightly get a 422. Bounded to a few dozen examples per operation to stay fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api_support import ADMIN_KEY, app_with, keyed_settings, settings_for, stub_loaded

EXAMPLES = 40


# Apps are built at import time (schemathesis reads their schema while collecting, lifespan
# included) with a stand-in model; the trained tiny model replaces it before the first test.
# Keys off (loopback: every route reachable, admin reload included) and keys on.
OPEN_APP = app_with(stub_loaded(), settings_for())
KEYED_APP = app_with(stub_loaded(), keyed_settings(rate_limit="100000/minute"))
open_schema = schemathesis.openapi.from_asgi("/openapi.json", OPEN_APP)
keyed_schema = schemathesis.openapi.from_asgi("/openapi.json", KEYED_APP)


@pytest.fixture(scope="module", autouse=True)
def serve_the_tiny_model(tiny_model_dir):
    for app in (OPEN_APP, KEYED_APP):
        holder = app.state.holder
        holder.model_dir = Path(tiny_model_dir)
        holder.reload()  # as POST /v1/admin/reload does: verified, smoke-tested, swapped in


@open_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_without_keys(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


@keyed_schema.auth()
class AdminKey:
    """An admin key reaches every route; schemathesis leaves it out where it tests a missing key."""

    def get(self, case, context):
        return ADMIN_KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "X-API-Key": data}


@keyed_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_with_keys(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
