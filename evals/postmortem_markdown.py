"""The Markdown parsing the post-mortem rubric's checks share: level-2 sections, and the numbers written in a
text with the rounding each one's digits stand for (pure)."""

from __future__ import annotations

import re

# A written number pins a figure when it is the figure rounded to the digits written, and those digits say
# enough: two decimals, or a rounding step within 5 % of the figure ("1" does not stand for 0.96).
_MAX_RELATIVE_STEP = 0.05
# An exponent only where the number ends there: "8e4512f" in a run id is not 8 x 10^4512.
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:[eE]([+-]?\d{1,3})(?!\w))?(\s?%)?")


# ---- sections and numbers --------------------------------------------------------------------------------------
def sections(markdown: str) -> list[tuple[str, list[str]]]:
    """The level-2 sections in order: (heading, body lines up to the next level-2 heading); fences skipped."""
    out: list[tuple[str, list[str]]] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            out.append((line[3:].strip(), []))
        elif out:
            out[-1][1].append(line)
    return out


def _body(markdown: str, heading: str) -> list[str]:
    return next((body for name, body in sections(markdown) if name == heading), [])


def _written_numbers(text: str) -> list[tuple[float, float, int]]:
    """Each number written in ``text``: (value, half its rounding step, decimals); a percentage as a fraction."""
    out = []
    for m in _NUMBER.finditer(text):
        whole, frac, exp, pct = m.group(1).replace(",", ""), m.group(2) or "", m.group(3), m.group(4)
        decimals = len(frac) - 1 if frac else 0
        if exp and abs(int(exp)) > 300:  # beyond a float, and no figure of ours: an id or a p-value underflow
            continue
        scale = (10.0 ** int(exp) if exp else 1.0) / (100.0 if pct else 1.0)
        out.append((float(whole + frac) * scale, 0.5 * 10.0 ** -decimals * scale, decimals))
    return out


def figure_written(value: float, numbers: list[tuple[float, float, int]]) -> bool:
    """True when some written number is ``value`` rounded as written, with digits enough to pin it."""
    x = abs(value)
    for written, half_step, decimals in numbers:
        if abs(x - written) <= half_step * (1 + 1e-9) and (decimals >= 2 or half_step <= _MAX_RELATIVE_STEP * x):
            return True
    return False
