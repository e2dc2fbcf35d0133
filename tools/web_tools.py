"""Web search through Tavily, offered only when a Tavily API key is configured.

``OPSAGENT_TAVILY_BASE_URL`` points the client at another endpoint (a company proxy or gateway, or a
stand-in server in tests); unset, the client uses Tavily's public API.
"""

from __future__ import annotations

import os

import requests
from tavily import TavilyClient, errors

from agent.context import OpsContext
from tools.common import ToolInputError, clip, errors_as_data
from tools.results import WebHit, WebResults

BASE_URL_ENV = "OPSAGENT_TAVILY_BASE_URL"
MAX_RESULTS = 3
TIMEOUT_S = 20.0
_TAVILY_ERRORS = (requests.RequestException, errors.BadRequestError, errors.ForbiddenError,
                  errors.InvalidAPIKeyError, errors.MissingAPIKeyError, errors.UsageLimitExceededError,
                  errors.TimeoutError)


@errors_as_data()
def web_search(ctx: OpsContext, query: str) -> WebResults:
    """Search the web (Tavily) and return the top 3 results: title, URL and a short snippet. Use it for
    knowledge outside this system, e.g. what an error message of a library means or how a known issue is fixed;
    never put customer data or internal names in the query.

    Args:
        query: the search, in a few words, e.g. "evidently jensenshannon drift threshold meaning".
    """
    key = ctx.settings.tavily_api_key
    if key is None:
        raise ToolInputError("web search is not configured (no Tavily API key); answer without it")
    if not query.strip():
        raise ToolInputError("query is empty; say what to search for")
    client = TavilyClient(api_key=key.get_secret_value(), api_base_url=os.environ.get(BASE_URL_ENV) or None)
    try:
        found = client.search(clip(query, 400), max_results=MAX_RESULTS, timeout=TIMEOUT_S)
    except _TAVILY_ERRORS as exc:
        return WebResults(query=clip(query, 200), error=f"web search failed ({type(exc).__name__}: "
                                                        f"{clip(str(exc), 160)}); answer without it")
    finally:
        client.close()
    hits = [WebHit(title=clip(r.get("title") or "", 120), url=clip(r.get("url") or "", 300),
                   snippet=clip(r.get("content") or "", 300)) for r in found.get("results", [])[:MAX_RESULTS]]
    return WebResults(query=clip(query, 200), results=hits)
