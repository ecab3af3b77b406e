"""OpenAPI fuzzing of the real API with schemathesis: no 5xx, answers match the schema.

Bounded and deterministic (derandomized Hypothesis, a fixed number of cases per operation
and generation mode), so CI runs the same cases every time. Admin routes are fuzzed with the
bearer. docs/fuzz.md records the counts of a run.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.api_client import ADMIN
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

EXAMPLES_PER_MODE = 12  # positive and negative: 24 cases per operation
REQUEST_TIMEOUT_S = 10.0


def fuzz(base: str) -> dict[str, Any]:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    session = requests.Session()
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    operations = 0

    def one(case: Case) -> None:
        try:
            response = case.call(
                base_url=base, session=session, headers=ADMIN, timeout=REQUEST_TIMEOUT_S
            )
        except requests.RequestException as exc:  # a hang or a dropped connection
            failures.append(f"{case.method} {case.formatted_path}: {exc!r}")
            return
        statuses[response.status_code] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except Exception as exc:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = settings(
                max_examples=EXAMPLES_PER_MODE,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(operation.as_strategy(generation_mode=mode))(one))
            try:
                run()
            except Unsatisfiable:
                # Nothing about this operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
    return {
        "operations": operations,
        "cases": sum(statuses.values()) + len([f for f in failures if "->" not in f]),
        "statuses": dict(sorted(statuses.items())),
        "failures": failures,
    }


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(stack: Stack) -> None:
    base = stack.start_app("api")
    report = fuzz(base)
    print(
        f"\nfuzz: {report['operations']} operations, {report['cases']} cases, "
        f"{len(report['failures'])} failures, statuses {report['statuses']}"
    )
    assert report["operations"] >= 15
    assert report["cases"] >= report["operations"] * EXAMPLES_PER_MODE
    assert report["failures"] == [], "\n".join(report["failures"][:20])
    assert not any(status >= 500 for status in report["statuses"])
