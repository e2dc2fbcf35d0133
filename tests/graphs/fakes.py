"""A scripted chat model: replies (or raises) from a list, so graph tests drive real tool calls without an LLM."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

Step = AIMessage | BaseException | Callable[[list[BaseMessage]], AIMessage]
_ids = itertools.count(1)


def tool_call(name: str, **args: Any) -> AIMessage:
    """An assistant turn that calls one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_ids)}", "type": "tool_call"}],
                     usage_metadata={"input_tokens": 120, "output_tokens": 15, "total_tokens": 135})


def answer(text: str) -> AIMessage:
    return AIMessage(text, usage_metadata={"input_tokens": 200, "output_tokens": 40, "total_tokens": 240})


class ScriptedChatModel(BaseChatModel):
    """Returns the scripted steps in order; an exception step is raised; the prompts it saw are kept."""

    script: list[Any] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    model_name: str = "scripted"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self  # the script decides which tools are called

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        if not self.script:
            raise RuntimeError("the script ran out of steps")
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        message = step(messages) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=message)])
