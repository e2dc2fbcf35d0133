"""What the configured LLM's tokens cost: the settings' explicit prices, else the genai-prices table.

genai-prices (pydantic's maintained table of provider prices) is looked up for ``llm_model`` at the provider
``llm_base_url`` names (OpenAI's API when there is no base URL). A self-hosted endpoint (vLLM, llama.cpp,
Ollama) is no provider in the table, so its price is unknown unless the settings give one — the reports then
say "price unknown" rather than print a made-up figure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from agent.settings import Settings

_OPENAI = "openai"  # the provider when no base URL is set: langchain-openai talks to OpenAI's API then


@dataclass(frozen=True)
class LLMPrice:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    source: str  # "settings", or "genai-prices: <provider> <model>"

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


def llm_price(settings: Settings) -> LLMPrice | None:
    """The price per million tokens of the configured model, or None when neither the settings nor the table
    know it."""
    if settings.llm_input_usd_per_mtok is not None and settings.llm_output_usd_per_mtok is not None:
        return LLMPrice(settings.llm_input_usd_per_mtok, settings.llm_output_usd_per_mtok, "settings")
    return table_price(settings.llm_model, settings.llm_base_url)


@functools.lru_cache(maxsize=64)
def table_price(model: str, base_url: str | None) -> LLMPrice | None:
    """genai-prices' current price of ``model`` at ``base_url``'s provider (None: not in the table)."""
    from genai_prices import Usage, calc_price

    mtok = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    try:
        if base_url:
            found = calc_price(mtok, model, provider_api_url=base_url)
        else:
            found = calc_price(mtok, model, provider_id=_OPENAI)
    except LookupError:  # no provider at that URL, or no such model at the provider
        return None
    return LLMPrice(float(found.input_price), float(found.output_price),
                    f"genai-prices: {found.provider.id} {found.model.id}")


def unknown_price_hint(settings: Settings) -> str:
    """What a report says instead of a cost."""
    return (f"price unknown for {settings.llm_model} (not in genai-prices; set OPSAGENT_LLM_INPUT_USD_PER_MTOK and "
            "OPSAGENT_LLM_OUTPUT_USD_PER_MTOK)")
