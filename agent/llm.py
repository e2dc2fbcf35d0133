"""The LLM brain's plumbing: build the chat model from settings, meter its tokens and cost, and label the brain.

Any OpenAI-compatible endpoint works (OpenAI, vLLM, Ollama, llama.cpp server) through ``langchain_openai``.
Retries are the openai client's own: ``max_retries`` attempts after the first, with exponential backoff
(0.5 s doubling up to 8 s, minus up to 25 % jitter) on timeouts, connection errors, 408/409/429 and 5xx.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.rate_limiters import InMemoryRateLimiter

from agent.settings import Settings

# Local servers (llama.cpp, vLLM, Ollama) take any key, but the openai client refuses to start without one.
_PLACEHOLDER_KEY = "sk-local-no-key"


def make_chat_model(settings: Settings, *, callbacks: Sequence[BaseCallbackHandler] | None = None,
                    temperature: float = 0.0) -> BaseChatModel | None:
    """The configured chat model, or None when no LLM is configured (the offline policy decides then).

    ``callbacks`` (e.g. a ``UsageMeter``) see every call the model makes. Temperature 0 keeps triage
    as repeatable as the endpoint allows.
    """
    if not settings.llm_configured:
        return None
    from langchain_openai import ChatOpenAI  # imported here: the offline path never pays for it

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else _PLACEHOLDER_KEY
    # langchain-openai sends only ``max_completion_tokens``, which llama.cpp's server ignores; a custom
    # endpoint also gets the older ``max_tokens`` in the body so every server caps the answer.
    # OpenAI's own endpoint refuses both fields together, so it gets only the new one.
    custom = bool(settings.llm_base_url) and "api.openai.com" not in (settings.llm_base_url or "")
    extra_body = {"max_tokens": settings.llm_max_tokens} if custom else None
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key,  # type: ignore[arg-type]  # str is accepted and wrapped in SecretStr
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        max_completion_tokens=settings.llm_max_tokens,
        temperature=temperature,
        extra_body=extra_body,
        rate_limiter=rate_limiter(settings.llm_requests_per_second),
        stream_usage=True,  # chat streams its answers; without this streamed turns carry no token counts
        callbacks=list(callbacks) if callbacks else None,
    )


def _usage_of(response: LLMResult) -> tuple[int, int]:
    """Input and output tokens of one result: the messages' usage_metadata, else llm_output's token_usage."""
    tokens_in = tokens_out = 0
    found = False
    for generations in response.generations:
        for gen in generations:
            message = gen.message if isinstance(gen, ChatGeneration) else None
            usage = message.usage_metadata if isinstance(message, AIMessage) else None
            if usage:
                found = True
                tokens_in += int(usage.get("input_tokens", 0))
                tokens_out += int(usage.get("output_tokens", 0))
    if not found:
        usage_dict = (response.llm_output or {}).get("token_usage") or {}
        tokens_in = int(usage_dict.get("prompt_tokens", 0) or 0)
        tokens_out = int(usage_dict.get("completion_tokens", 0) or 0)
    return tokens_in, tokens_out


def cost_usd(settings: Settings, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated cost of some tokens at the configured model's price (``agent.llm_prices``); None when the price
    is unknown (no tokens cost nothing, priced or not)."""
    from agent.llm_prices import llm_price

    if not input_tokens and not output_tokens:
        return 0.0
    price = llm_price(settings)
    return price.cost_usd(input_tokens, output_tokens) if price is not None else None


def cost_text(settings: Settings, input_tokens: int, output_tokens: int) -> str:
    """``'est. $0.0038'``, or what the reports say when the price is unknown."""
    from agent.llm_prices import unknown_price_hint

    cost = cost_usd(settings, input_tokens, output_tokens)
    return f"est. ${cost:.4f}" if cost is not None else unknown_price_hint(settings)


@functools.lru_cache(maxsize=8)
def rate_limiter(requests_per_second: float) -> InMemoryRateLimiter:
    """The process's one limiter for a rate: every chat model built from the same settings shares its bucket
    (a node builds its model afresh, so a limiter per model would limit nothing)."""
    # Polling every 50 ms adds at most that much to a call that had to wait; a bucket of two lets a
    # structured-output retry follow its first attempt at once.
    return InMemoryRateLimiter(requests_per_second=requests_per_second, check_every_n_seconds=0.05,
                               max_bucket_size=2)


class UsageMeter(BaseCallbackHandler):
    """Counts LLM calls, tokens and errors across every model call it is attached to (thread-safe)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.calls = 0
        self.errors = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        tokens_in, tokens_out = _usage_of(response)
        with self._lock:
            self.calls += 1
            self.input_tokens += tokens_in
            self.output_tokens += tokens_out

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1
            self.errors += 1

    def cost_usd(self, settings: Settings) -> float | None:
        """Estimated cost at the configured model's price; None when the price is unknown."""
        with self._lock:
            return cost_usd(settings, self.input_tokens, self.output_tokens)

    def snapshot(self) -> dict[str, int]:
        """The counters now, as a plain dict (for state, reports and logs)."""
        with self._lock:
            return {"calls": self.calls, "errors": self.errors, "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens}

    def line(self, settings: Settings) -> str:
        """One line for a report: calls, tokens and estimated cost, or that the offline policy ran alone."""
        s = self.snapshot()
        if s["calls"] == 0:
            return "no LLM calls (offline policy)"
        calls = f"{s['calls']} LLM call{'s' if s['calls'] != 1 else ''}"
        if s["errors"]:
            calls += f" ({s['errors']} failed)"
        return (f"{calls}, {s['input_tokens']:,} in / {s['output_tokens']:,} out tokens, "
                f"{cost_text(settings, s['input_tokens'], s['output_tokens'])}")


def brain_label(settings: Settings, *, used_llm: bool, fallback_reason: str | None = None) -> str:
    """Which brain wrote a report: 'llm <model>', 'offline policy', or 'offline policy (LLM failed: ...)'."""
    if used_llm and fallback_reason is None:
        return f"llm {settings.llm_model}"
    if fallback_reason:
        return f"offline policy (LLM failed: {fallback_reason})"
    return "offline policy"


def failure_reason(exc: BaseException, settings: Settings) -> str:
    """A short, human reason for an LLM failure, for ``brain_label`` (e.g. 'timeout after 30 s')."""
    import openai

    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return f"timeout after {settings.llm_timeout_s:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach {settings.llm_base_url or 'the OpenAI API'}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from the LLM endpoint"
    text = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
