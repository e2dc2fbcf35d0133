"""The post-mortem rubric's checks and the Markdown parsing they share (pure; see ``evals.postmortem_rubric``)."""

from __future__ import annotations

import math
import re

from evals.postmortem_expectations import Check, EvidenceFact, FindingFact, PostmortemExpectation
from evals.postmortem_markdown import _body, _written_numbers, figure_written, sections

STATUSES = ("open", "mitigated", "resolved", "won't fix")
SECTIONS = ("Summary", "Impact", "Detection", "Trigger and root cause", "Resolution", "Action items", "Lessons",
            "Timeline", "Links")
ROOT_CAUSE, ACTION_ITEMS = "Trigger and root cause", "Action items"

# Where the incident stood when the document was last written, from the run (evals.scoring.outcome_of).
# The status each outcome allows, and why: a status may claim no more than the run showed.
ALLOWED_STATUS: dict[str, tuple[str, ...]] = {
    # Nothing was filed (a watch verdict, or a repeat the policy would not re-propose): still being watched, or
    # deliberately left alone.
    "no_proposal": ("open", "won't fix"),
    "pending": ("open",),  # a proposal waits for a human: nothing has changed yet
    "resolved": ("resolved", "mitigated"),  # executed and verified: fixed, or its impact stopped
    # Executed without verification (a feed fix acknowledged, a canary that did not verify): nothing proves the
    # fix, so the incident stays open.
    "unverified": ("open",),
    "rejected": ("won't fix", "open"),  # a person said no: left as is, or still open for another fix
    "failed": ("open",),  # failed, refused or interrupted: the fault is still there
}

# The headline figures of each finding kind a reader needs: what was measured and what it is compared with.
# Supporting detail (p-values, thresholds, p99, counts) a writer may leave out is not required.
FIGURE_KEYS: dict[str, tuple[str, ...]] = {
    "performance_drop": ("realised", "reference"), "estimated_performance_drop": ("estimated", "reference"),
    "prior_shift": ("predicted_rate", "reference_rate"), "latency_slo": ("p95_ms",),
    "error_rate_slo": ("error_rate",), "rejection_spike": ("rejection_rate",), "null_share": ("null_share",),
    "feature_drift": ("statistic",), "prediction_drift": ("statistic",),
}
_REQUEST = re.compile(r"\b(review|approve|reject|acknowledge|answer)\b", re.I)  # asks a person to answer
_WATCH_CANARY = re.compile(r"\bwatch\b.*\bcanary\b", re.I)
_TASK = re.compile(r"^\s*[-*] \[( |x|X)\] \S")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
_MIN_DUPLICATE_CHARS = 25  # shorter lines ("None.", "- churn") repeat legitimately across sections


# ---- the checks -----------------------------------------------------------------------------------
def _pass(name: str, reason: str) -> Check:
    return Check(name=name, ok=True, reason=reason)


def _fail(name: str, reason: str) -> Check:
    return Check(name=name, ok=False, reason=reason)


def _na(name: str, reason: str) -> Check:
    return Check(name=name, ok=None, reason=reason)


def _status(lines: list[str]) -> str | None:
    """The status the first non-blank line after the title gives, or None when that line is no status line."""
    after = next((line.strip() for line in lines[1:] if line.strip()), "")
    m = re.fullmatch(r"\*\*Status:\*\*\s*(.*?)\s*", after)
    return m.group(1) if m else None


def check_title(lines: list[str]) -> Check:
    first = lines[0] if lines else ""
    if re.fullmatch(r"# \S.*", first):
        return _pass("title", f"line 1 is the title '{first[2:].strip()[:60]}'")
    return _fail("title", f"line 1 should be '# <title>', is '{first[:60]}'")


def check_status_line(lines: list[str]) -> Check:
    status = _status(lines)
    if status is None:
        return _fail("status line", "no '**Status:** <status>' line right after the title")
    if status not in STATUSES:
        return _fail("status line", f"status '{status}' is none of {', '.join(STATUSES)}")
    return _pass("status line", f"status {status}")


def check_status_outcome(lines: list[str], exp: PostmortemExpectation) -> Check:
    status, allowed = _status(lines), ALLOWED_STATUS[exp.outcome]
    if status in allowed:
        return _pass("status matches outcome", f"{status} fits outcome {exp.outcome}")
    said = "no status line" if status is None else f"status '{status}'"
    return _fail("status matches outcome", f"{said} after outcome {exp.outcome}; expected {' or '.join(allowed)}")


def check_sections(markdown: str) -> Check:
    found = [name for name, _ in sections(markdown)]
    missing = [s for s in SECTIONS if s not in found]
    twice = sorted({s for s in SECTIONS if found.count(s) > 1})
    if missing or twice:
        return _fail("sections", "; ".join([*(["missing " + ", ".join(f"## {s}" for s in missing)] if missing else []),
                                            *(["twice: " + ", ".join(twice)] if twice else [])]))
    required = [name for name in found if name in SECTIONS]
    if required != list(SECTIONS):
        return _fail("sections", f"out of order: {', '.join(required)}")
    before_links = found[:found.index("Links")]
    extra = [name for name in before_links if name not in SECTIONS]
    if extra:
        return _fail("sections", f"other level-2 sections before ## Links: {', '.join(extra)} (make them "
                     "level-3 inside a section, or move them after ## Links)")
    return _pass("sections", f"all {len(SECTIONS)} sections, in order")


def _field(body: list[str], label: str) -> str | None:
    for line in body:
        m = re.search(rf"\*\*{label}:\*\*\s*`?([A-Za-z_]+)", line)  # enum values: letters and underscores
        if m:
            return m.group(1).strip()
    return None


def check_field(markdown: str, label: str, want: str) -> Check:
    name = label.lower()
    said = _field(_body(markdown, ROOT_CAUSE), label)
    if said is None:
        return _fail(name, f"no '**{label}:** ...' line in ## {ROOT_CAUSE}")
    if said != want:
        return _fail(name, f"says {said}, the diagnosis says {want}")
    return _pass(name, f"{want}")


def check_culprits(markdown: str, culprits: list[str]) -> Check:
    if not culprits:
        return _na("culprits", "the diagnosis names no culprit")
    text = "\n".join(_body(markdown, ROOT_CAUSE))
    # Whole names only: "Amount" is not found inside "Amounts"; a version may read "v2".
    missing = [c for c in culprits
               if not re.search(rf"(?<![A-Za-z0-9_])v?{re.escape(c)}(?![A-Za-z0-9_])", text)]
    if missing:
        return _fail("culprits", f"## {ROOT_CAUSE} does not name {', '.join(missing)}")
    return _pass("culprits", f"names {', '.join(culprits)}")


def check_figures(markdown: str, findings: list[FindingFact]) -> Check:
    wanted = [(f, key, f.evidence[key]) for f in findings for key in FIGURE_KEYS.get(f.kind, ())
              if key in f.evidence and math.isfinite(f.evidence[key]) and f.evidence[key] != 0]
    if not wanted:
        return _na("figures", "no finding carries a headline figure")
    numbers = _written_numbers(markdown)
    missing = [f"{f.kind} {f.subject} {key} {value:.4g}" for f, key, value in wanted
               if not figure_written(value, numbers)]
    if missing:
        return _fail("figures", f"not in the text: {'; '.join(missing)}")
    return _pass("figures", f"all {len(wanted)} headline figure(s) of the findings are written")


RELEASE_CAUSED = ("bad_release", "latency", "errors")


def check_release_diff(markdown: str, exp: PostmortemExpectation) -> Check:
    """A release-caused incident's root cause names the two versions (``**Release:** v<old> -> v<new>``) and the
    gate's verdict on the new one, or its absence (``**Gate:** passed|failed|none``), as the triage saw them."""
    name = "release diff"
    if exp.category not in RELEASE_CAUSED or exp.release is None:
        return _na(name, "no release behind this incident in the triage's signals")
    r, body = exp.release, _body(markdown, ROOT_CAUSE)
    release = next((line for line in body if line.startswith("**Release:**")), None)
    if release is None:
        return _fail(name, f"no '**Release:** ...' line in ## {ROOT_CAUSE}")
    missing = [f"v{v}" for v in (r.old, r.new) if v and not re.search(rf"\bv{re.escape(v)}\b", release)]
    if missing:
        return _fail(name, f"the release line does not name {', '.join(missing)}: {release[:80]}")
    gate = next((m.group(1) for line in body if (m := re.match(r"\*\*Gate:\*\*\s*(passed|failed|none)\b", line))),
                None)
    want = r.gate or "none"
    if gate != want:
        said = f"says gate {gate}" if gate else "gives no '**Gate:** passed|failed|none' line"
        return _fail(name, f"{said}; the registry says {want if r.gate else 'none (deployed without a gate)'}")
    return _pass(name, f"names v{r.old} and v{r.new}, gate {want}" if r.old else f"names v{r.new}, gate {want}")


def check_action_items(markdown: str) -> Check:
    items = [line for line in _body(markdown, ACTION_ITEMS) if _BULLET.match(line)]
    plain = [line.strip() for line in items if not _TASK.match(line)]
    if not items:
        return _fail("action item format", f"## {ACTION_ITEMS} has no '- [ ] ...' or '- [x] ...' item")
    if plain:
        return _fail("action item format", f"not a task item: {plain[0][:80]}")
    done = sum(bool(re.match(r"^\s*[-*] \[[xX]\]", line)) for line in items)
    return _pass("action item format", f"{len(items)} task item(s), {done} done")


def check_items_current(markdown: str, exp: PostmortemExpectation) -> Check:
    name = "action items current"
    open_items = [line.strip() for line in _body(markdown, ACTION_ITEMS) if re.match(r"^\s*[-*] \[ \]", line)]
    if exp.outcome == "pending":
        if exp.proposal_id and not any(exp.proposal_id in item for item in open_items):
            return _fail(name, f"proposal {exp.proposal_id} awaits an answer, but no open item names it")
        return _pass(name, "the pending proposal has its open item")
    if exp.outcome == "no_proposal":
        return _na(name, "no proposal was filed")
    stale = [item for item in open_items if _REQUEST.search(item) and "proposal" in item.lower()]
    if exp.outcome == "resolved":
        stale += [item for item in open_items if _WATCH_CANARY.search(item)]
    if stale:
        return _fail(name, f"stale after outcome {exp.outcome}: {stale[0][:100]}")
    return _pass(name, f"no open item asks for what outcome {exp.outcome} already settled")


def _content(line: str) -> str:
    return re.sub(r"^\[[ xX]\]\s*", "", _BULLET.sub("", line.strip(), count=1)).strip()


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def check_duplicates(markdown: str, findings: list[FindingFact], evidence: list[EvidenceFact] | None = None) -> Check:
    """No fact said twice, decided exactly (equal identities, equal texts), never by similarity:

    1. two evidence items of the JSON with the same identity (``fact``: the writer gives every wording of one
       measured fact the same identity), or the same normalised text (case folded, whitespace collapsed);
    2. an evidence item's text or a finding's message occurring more than once in the normalised Markdown outside
       ``## Links`` (which lists link targets — a report path, a run id — that an evidence item may also be);
    3. a line whose content (bullet and task box stripped, at least ``_MIN_DUPLICATE_CHARS`` long) repeats verbatim.

    A near-duplicate — the same words about another subject, or other figures — is another fact and passes."""
    name = "no duplicated evidence"
    seen_facts: dict[str, str] = {}
    seen_texts: set[str] = set()
    for e in evidence or []:
        text = _normalised(e.detail)
        if e.fact and e.fact in seen_facts:
            return _fail(name, f"fact {e.fact} stated twice: '{seen_facts[e.fact][:60]}' and '{e.detail[:60]}'")
        if text in seen_texts:
            return _fail(name, f"evidence listed twice: {e.detail[:100]}")
        seen_texts.add(text)
        if e.fact:
            seen_facts[e.fact] = e.detail
    body = _normalised("\n".join(line for heading, lines in sections(markdown) if heading != "Links"
                                 for line in [f"## {heading}", *lines]))
    for said in [*(f.message for f in findings), *(e.detail for e in evidence or [])]:
        if said.strip() and body.count(_normalised(said)) > 1:
            return _fail(name, f"said {body.count(_normalised(said))} times: {said[:100]}")
    seen: set[str] = set()
    for line in markdown.splitlines():
        text = _content(line)
        if len(text) < _MIN_DUPLICATE_CHARS or line.lstrip().startswith(("#", "|---", "```")):
            continue
        if text in seen:
            return _fail(name, f"line repeated: {text[:100]}")
        seen.add(text)
    return _pass(name, "each fact, evidence item and line appears once")


def check_dangling_colons(markdown: str) -> Check:
    """A line ending in ':' must introduce something: a list, table or code right after it (a list item: a
    nested one). Emphasis markers around the colon do not hide it ("**Category:**" with nothing after)."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        bare = line.rstrip().rstrip("*_` ")
        if not bare.endswith(":") or bare.lstrip().startswith("#"):
            continue
        nxt = next((n for n in lines[i + 1:] if n.strip()), "")
        indent = len(line) - len(line.lstrip())
        if _BULLET.match(line):
            introduces = bool(_BULLET.match(nxt)) and len(nxt) - len(nxt.lstrip()) > indent
        else:
            introduces = bool(_BULLET.match(nxt)) or nxt.lstrip().startswith(("|", "```", ">"))
        if not introduces:
            return _fail("no dangling colon", f"line {i + 1} ends in a colon with nothing after: {line.strip()[:100]}")
    return _pass("no dangling colon", "no line ends in a dangling colon")


