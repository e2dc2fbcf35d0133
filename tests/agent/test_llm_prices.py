"""LLM prices from the genai-prices table, the settings' override, and a clear 'unknown' for a model it lacks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.llm import UsageMeter, cost_usd
from agent.llm_prices import llm_price
from agent.settings import Settings


def test_openais_model_is_priced_from_the_table():
    price = llm_price(Settings(llm_model="gpt-4o-mini"))
    assert price is not None and price.source == "genai-prices: openai gpt-4o-mini"
    # genai-prices 0.2.3's figures for gpt-4o-mini (USD per million tokens); a newer table may move them
    assert (price.input_usd_per_mtok, price.output_usd_per_mtok) == (0.15, 0.60)
    assert cost_usd(Settings(llm_model="gpt-4o-mini"), 2_000_000, 1_000_000) == pytest.approx(0.30 + 0.60)


def test_a_provider_is_found_by_its_base_url():
    price = llm_price(Settings(llm_model="anthropic/claude-3.5-sonnet", llm_base_url="https://openrouter.ai/api/v1"))
    assert price is not None and price.source.startswith("genai-prices: openrouter ")


def test_the_settings_override_the_table():
    settings = Settings(llm_model="gpt-4o-mini", llm_input_usd_per_mtok=1.0, llm_output_usd_per_mtok=2.0)
    price = llm_price(settings)
    assert price is not None and price.source == "settings"
    assert cost_usd(settings, 1000, 500) == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)


def test_a_self_hosted_model_has_an_unknown_price_and_reports_say_so():
    settings = Settings(llm_model="qwen2.5-7b-instruct", llm_base_url="http://127.0.0.1:8080/v1")
    assert llm_price(settings) is None and cost_usd(settings, 1000, 10) is None
    assert cost_usd(settings, 0, 0) == 0.0  # no tokens cost nothing, priced or not
    meter = UsageMeter()
    meter.calls, meter.input_tokens, meter.output_tokens = 1, 1000, 10
    assert meter.line(settings) == ("1 LLM call, 1,000 in / 10 out tokens, price unknown for qwen2.5-7b-instruct "
                                    "(not in genai-prices; set OPSAGENT_LLM_INPUT_USD_PER_MTOK and "
                                    "OPSAGENT_LLM_OUTPUT_USD_PER_MTOK)")


def test_one_price_without_the_other_is_refused_with_what_to_set():
    with pytest.raises(ValidationError, match="set both OPSAGENT_LLM_INPUT_USD_PER_MTOK and "
                                              "OPSAGENT_LLM_OUTPUT_USD_PER_MTOK"):
        Settings(llm_input_usd_per_mtok=1.0)
