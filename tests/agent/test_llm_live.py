"""Live checks against the configured LLM endpoint. Skipped unless OPSAGENT_LLM_API_KEY or
OPSAGENT_LLM_BASE_URL is set; run them with `pytest -m live` after configuring a real endpoint."""

from __future__ import annotations

import os

import pytest

from agent.context import OpsContext
from agent.llm import UsageMeter, make_chat_model
from agent.settings import Settings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (os.environ.get("OPSAGENT_LLM_API_KEY") or os.environ.get("OPSAGENT_LLM_BASE_URL")),
                       reason="no LLM endpoint configured (set OPSAGENT_LLM_API_KEY or OPSAGENT_LLM_BASE_URL)"),
]


def test_the_configured_endpoint_answers_and_its_tokens_are_counted():
    settings = Settings()
    meter = UsageMeter()
    model = make_chat_model(settings, callbacks=[meter])
    assert model is not None
    reply = model.invoke("Reply with the single word: ready")
    assert "ready" in str(reply.content).lower()
    assert meter.snapshot()["calls"] == 1 and meter.snapshot()["output_tokens"] > 0


def test_chat_with_the_real_llm_uses_a_tool(tmp_path):
    from graphs.runner import GraphRunner

    ctx = OpsContext(Settings(home=tmp_path), via="test", actor="live-test")
    with GraphRunner(ctx) as runner:
        answer, brain = runner.chat("Which models are registered? Use your tools.", thread_id="live")
    assert brain.startswith("llm ") and answer
