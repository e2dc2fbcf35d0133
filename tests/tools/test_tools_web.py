"""web_search against a real loopback HTTP server that answers like Tavily (TavilyClient's api_base_url)."""

from __future__ import annotations

import json

import pytest
from tool_test_support import tavily_stub

from agent.context import OpsContext
from agent.settings import Settings
from tools.catalog import call_tool, tool_specs
from tools.web_tools import BASE_URL_ENV, web_search


@pytest.fixture
def stub(monkeypatch):
    with tavily_stub() as server:
        monkeypatch.setenv(BASE_URL_ENV, server.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # loopback never goes through a proxy
        yield server


def _ctx(tmp_path, key: str | None) -> OpsContext:
    return OpsContext(Settings(home=tmp_path / "home", tavily_api_key=key))


def test_web_search_is_offered_only_with_a_key(tmp_path):
    assert "web_search" not in {s.name for s in tool_specs(_ctx(tmp_path, None).settings)}
    assert "web_search" in {s.name for s in tool_specs(_ctx(tmp_path, "tvly-test").settings)}
    assert call_tool(_ctx(tmp_path, None), "web_search", {"query": "x"}).startswith("error: unknown tool")


def test_top_three_results_with_short_snippets(tmp_path, stub):
    out = json.loads(call_tool(_ctx(tmp_path, "tvly-test"), "web_search", {"query": "jensenshannon drift threshold"}))
    assert [r["url"] for r in out["results"]] == [f"https://example.org/drift/{i}" for i in range(3)]
    assert all(len(r["snippet"]) <= 300 for r in out["results"]) and "error" not in out
    (request,) = stub.requests
    assert request["path"] == "/search" and request["auth"] == "Bearer tvly-test"
    assert request["body"]["query"] == "jensenshannon drift threshold" and request["body"]["max_results"] == 3


def test_a_refused_key_comes_back_as_data(tmp_path, stub):
    stub.status = 401
    result = web_search(_ctx(tmp_path, "tvly-bad"), "anything")
    assert result.results == [] and "InvalidAPIKeyError" in (result.error or "")
    assert "answer without it" in (result.error or "")


def test_no_key_or_empty_query_is_an_error_not_a_crash(tmp_path, stub):
    assert "not configured" in (web_search(_ctx(tmp_path, None), "drift").error or "")
    assert "empty" in (web_search(_ctx(tmp_path, "tvly-test"), "   ").error or "")
    assert stub.requests == []
