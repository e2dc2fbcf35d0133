"""What comes back from an LLM: the figures and names its prose quotes must come from the facts it was given.

The writer gives the LLM the whitelisted signals (``agent.guard.signals_payload``) and the templated draft; the
prose it returns is checked against exactly that text. A figure is grounded when the facts hold it at the
precision the prose writes it ("0.76" for 0.7581), as a percentage of a share ("30%" for 0.3) or with its sign
dropped ("fell 0.089" for -0.089); a time when the facts hold the same minute; a version ("v3"), an id
("inc-…", "prop-…") or a backticked name when the facts spell it. Anything else was invented, and the writer
sends it back to the LLM (pydantic-ai ``ModelRetry``) or falls back to the template.
"""

from __future__ import annotations

import re

# Counting words written as digits ("3 features", "1 replica", "two or three sentences") are the prose's own,
# not a measured figure; every larger number must be found in the facts.
FREE_INTEGERS = 10
_DATETIME = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|\s?UTC)?")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_CLOCK = re.compile(r"(?<![\w:.])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s?UTC)?(?![\w:])")
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:[eE]([-+]?\d{1,3}))?(\s?%)?(?![\w])")
_VERSION = re.compile(r"(?<![\w-])v(\d+)\b")
_ID = re.compile(r"\b(?:inc|prop)-[0-9a-zA-Z][\w-]*")
_BACKTICKED = re.compile(r"`([^`\n]{1,80})`")


def _minutes(text: str) -> tuple[set[str], set[str]]:
    """Each date-time in ``text`` to the minute (``2025-01-31 12:05``), and each clock time (``12:05``)."""
    stamps = {f"{m[1]}-{m[2]}-{m[3]} {m[4]}:{m[5]}" for m in _DATETIME.finditer(text)}
    clocks = {f"{int(m[4]):02d}:{m[5]}" for m in _DATETIME.finditer(text)}
    clocks |= {f"{int(m[1]):02d}:{m[2]}" for m in _CLOCK.finditer(_DATETIME.sub(" ", text))}
    return stamps, clocks


def _without_times(text: str) -> str:
    return _CLOCK.sub(" ", _DATE.sub(" ", _DATETIME.sub(" ", text)))


def _numbers(text: str) -> list[tuple[str, float, int, bool]]:
    """(as written, value, decimals, is a percentage) for each number outside dates and times."""
    out = []
    for m in _NUMBER.finditer(_without_times(text)):
        digits = m[1].replace(",", "") + (f".{m[2]}" if m[2] else "")
        value = abs(float(digits)) * (10 ** int(m[3]) if m[3] else 1)
        out.append((m[0].strip(), value, len(m[2] or ""), bool(m[4])))
    return out


def _matches(value: float, decimals: int, facts: list[float]) -> bool:
    """Some fact, rounded to the prose's precision, is ``value``; an integer matches only a fact of 1 or more (a
    share like 0.758 is not "1")."""
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(f - value) <= tolerance and (decimals or f >= 1 or value == f) for f in facts)


def ungrounded(prose: str, facts: str) -> list[str]:
    """The figures, times, versions, ids and backticked names in ``prose`` that ``facts`` does not hold."""
    known = [v for _, v, _, _ in _numbers(facts)]
    missing: list[str] = []
    for written, value, decimals, percent in _numbers(prose):
        if not percent and decimals == 0 and value <= FREE_INTEGERS:
            continue
        as_share = percent and _matches(value / 100, decimals + 2, known)
        if not (as_share or _matches(value, decimals, known)):
            missing.append(written)
    stamps, clocks = _minutes(facts)
    said_stamps, said_clocks = _minutes(prose)
    missing += sorted(said_stamps - stamps) + sorted(c for c in said_clocks - clocks
                                                     if not any(s.endswith(c) for s in said_stamps))
    lowered = facts.casefold()
    missing += [f"v{n}" for n in _VERSION.findall(prose) if f"v{n}" not in lowered and f'"{n}"' not in lowered]
    missing += [i for i in _ID.findall(prose) if i.casefold() not in lowered]
    missing += [f"`{n}`" for n in _BACKTICKED.findall(prose) if n.strip().casefold() not in lowered]
    return list(dict.fromkeys(missing))


def prose_of(value: object) -> str:
    """Every string in a typed output (a pydantic model's dump, nested lists and dicts), one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(prose_of(v) for v in value.values())
    if isinstance(value, list | tuple):
        return "\n".join(prose_of(v) for v in value)
    dump = getattr(value, "model_dump", None)
    return prose_of(dump()) if callable(dump) else ""

