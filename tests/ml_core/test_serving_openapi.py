"""Schemathesis fuzzes the scoring service's own /openapi.json against a real server on loopback.

Every answer must be one the document declares (status, content type, body schema), never a 5xx, and the
service must still answer /health afterwards. Examples are bounded (derandomized, 30 per operation and mode)
so the test stays well under a minute once the model is loaded.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from test_serving_support import GOOD, MODEL, base_home, serve

from ml_core.paths import HomeLayout
from ml_core.serving.state import DeploymentState

EXAMPLES = 30
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    home: HomeLayout = base_home().copy_to(tmp_path_factory.mktemp("serving-openapi") / "home")
    with serve(home, DeploymentState(model=MODEL, champion=GOOD)) as (srv, client, _):
        yield srv.url, client


@pytest.fixture(scope="module")
def api(service):
    url, _ = service
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


def fuzz(api, path: str, method: str, mode: GenerationMode, excluded: list[Callable] | None = None,
         **fixed: str) -> list[int]:
    """Run EXAMPLES generated requests against one operation; returns the status codes answered."""
    sent: list[int] = []
    # Fixed path parameters are set on each generated case: schemathesis 4.15 cannot generate negative cases
    # around a fixed path parameter (every draw is filtered out).
    strategy = api[path][method].as_strategy(generation_mode=mode)

    @FUZZ
    @given(case=strategy)
    def run(case) -> None:
        if fixed:
            case.path_parameters = {**(case.path_parameters or {}), **fixed}
        response = case.call_and_validate(excluded_checks=excluded or [])
        assert response.status_code < 500, response.text
        sent.append(response.status_code)

    run()
    return sent


def test_predict_accepts_every_batch_its_schema_allows(api) -> None:
    # Positive data is a schema-valid batch: the service must score it (positive_data_acceptance: a 2xx).
    assert set(fuzz(api, "/predict", "POST", GenerationMode.POSITIVE)) == {200}


def test_predict_answers_invalid_bodies_with_documented_errors(api, service) -> None:
    # A negative example may break one record of many; the contract scores the others (a 200), so
    # negative_data_rejection (which expects a 4xx for any schema violation) does not apply here.
    statuses = fuzz(api, "/predict", "POST", GenerationMode.NEGATIVE, [negative_data_rejection])
    assert {400, 422} & set(statuses), statuses
    assert service[1].get("/health").status_code == 200


# Positive only: schemathesis 4.15 (the version langgraph-api's pins allow) filters out every negative v2 body it
# draws (hypothesis Unsatisfiable). Malformed tensors are covered by hand in test_serving_v2.py (five kinds, 400s).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE])
def test_v2_infer_never_fails_on_generated_requests(api, service, mode: GenerationMode) -> None:
    # The v2 schema cannot say "one tensor per feature column", so schema-valid requests are mostly 400s:
    # positive_data_acceptance is excluded; every answer must still be a documented 2xx/4xx.
    excluded = [positive_data_acceptance, negative_data_rejection]
    assert 400 in fuzz(api, "/v2/models/{model}/infer", "POST", mode, excluded, model=MODEL)
    assert 404 in fuzz(api, "/v2/models/{model}/infer", "POST", mode, excluded)  # any other model name
    assert service[1].get("/health").status_code == 200


@pytest.mark.parametrize(("path", "method"), [("/v2/models/{model}", "GET"), ("/v2/models/{model}/ready", "GET"),
                                              ("/v2/health/ready", "GET"), ("/ready", "GET"), ("/health", "GET")])
def test_status_and_metadata_answers_match_the_document(api, path: str, method: str) -> None:
    assert fuzz(api, path, method, GenerationMode.POSITIVE, [positive_data_acceptance])


def test_the_document_describes_predict_and_v2(service) -> None:
    url, _ = service
    doc = httpx.get(f"{url}/openapi.json").json()
    record = doc["components"]["schemas"]["PredictRecord"]
    assert "total_day_minutes" in record["required"] and record["properties"]["total_day_minutes"]["maximum"] == 1440
    assert record["properties"]["international_plan"]["enum"] == ["no", "yes"]
    predict = doc["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictRequest"}
    assert set(predict["responses"]) == {"200", "400", "413", "422"}
    assert "errors" in doc["components"]["schemas"]["PredictResponse"]["required"]
    assert {"/v2/health/live", "/v2/health/ready", "/v2/models/{model}", "/v2/models/{model}/infer",
            "/v2/models/{model}/versions/{version}/infer"} <= set(doc["paths"])
    # the served model's own infer route (no path parameter to parse) is the documented one, not a second entry
    assert not [p for p in doc["paths"] if p.startswith("/v2/models/churn")]


HTTP_SPANS = """
import sys
from pathlib import Path
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.serving.app import create_app

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)  # the process's global provider, as opentelemetry-instrument configures one
for telemetry in (None, {}):
    app = create_app(HomeLayout(Path(sys.argv[1])), "churn", autoload=False, schema=CHURN_SCHEMA,
                     http_telemetry=telemetry)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    print(len(spans.get_finished_spans()))
    spans.clear()
"""


def test_http_spans_only_when_asked_for(tmp_path: Path) -> None:
    """By default no span per request even with a global tracer provider configured; with ``http_telemetry={}``
    (``--otel``), FastAPI's own spans reach it. In a process of its own: a global provider is set once for good."""
    out = subprocess.run([sys.executable, "-c", HTTP_SPANS, str(tmp_path / "home")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    off, on = map(int, out.stdout.split())
    assert off == 0 and on >= 1
