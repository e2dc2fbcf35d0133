"""AIOpsLab-style scores for one scenario run, and the totals over a benchmark (pure functions, no I/O).

The four AIOpsLab task levels — detection, localization, root cause, mitigation — plus false alarms on
controls (and on the quiet tick 0 before any fault), time-to-detect in scheduled ticks, and the cost side
(LLM tokens and dollars, wall time). A verdict is ``ok`` True/False with the reason for a miss, or ``None``
where the dimension does not apply (a control has nothing to localize; an unnamed culprit is not scored).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from evals.postmortem_rubric import FindingFact, ReleaseFact, RubricResult
from evals.scenario_model import RELEASE, EvalScenario

LLM_FAILED = "offline policy (LLM failed"  # how a triage's brain reads when the offline policy took over


# ---- what a run observed ------------------------------------------------------------------------
class TickResult(BaseModel):
    """One scheduled triage: the tick's traffic and what triage concluded."""

    tick: int
    detected: bool
    category: str = "none"
    culprit: list[str] = Field(default_factory=list)
    action: str = "none"
    summary: str = ""
    brain: str = ""
    incident_id: str | None = None
    proposal_id: str | None = None
    tools: list[str] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list, description="'kind subject' of each monitoring finding")
    requests_ok: int = 0
    requests_failed: int = 0
    requests_rejected: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    finding_facts: list[FindingFact] = Field(default_factory=list, description="the typed findings, with figures")
    wrote_postmortem: bool = Field(False, description="this tick (re)wrote its incident's post-mortem")
    release: ReleaseFact | None = Field(None, description="the release its signals saw: versions and gate verdict")


class Mitigation(BaseModel):
    """What happened to the proposal the benchmark approved."""

    proposal_id: str
    status: str  # executed, failed, refused, pending ...
    verified: bool
    outcome: str = ""
    seconds: float = 0.0


class ScenarioRun(BaseModel):
    """Everything one run of one scenario observed (the task output the scores are computed from)."""

    scenario: str
    brain: str
    released: str | None = Field(None, description="the version the world shipped, for culprit @release")
    ticks: list[TickResult] = Field(default_factory=list)
    mitigation: Mitigation | None = None
    error: str | None = None
    seconds: float = 0.0
    world: str | None = Field(None, description="the world's home folder (post-mortems, logs)")
    postmortem_md: str | None = Field(None, description="the scored incident's post-mortem Markdown at the end "
                                      "of the run (after any approval); None: no incident, or not found")
    postmortem_evidence: list[dict[str, str]] = Field(
        default_factory=list, description="its JSON's evidence items (source, detail, fact), for the rubric's "
                                          "duplicate check")

    @property
    def first_detection(self) -> TickResult | None:
        """The first tick after the fault started whose triage flagged something."""
        return next((t for t in self.ticks if t.tick >= 1 and t.detected), None)

    def concluding_detection(self, detectable_from: int = 1) -> TickResult | None:
        """The detection a ramped scenario is scored on: the first from ``detectable_from`` on, or an earlier one
        that already chose an action; a "watch" verdict before the fault is detectable is an early warning. Without
        either, the first detection (so an early warning that was never followed up is still scored)."""
        hits = [t for t in self.ticks if t.tick >= 1 and t.detected]
        return next((t for t in hits if t.tick >= detectable_from or t.action != "none"), hits[0] if hits else None)

    @property
    def llm_fallbacks(self) -> int:
        """Triages where the LLM failed and the offline policy decided (agent.llm.brain_label's wording)."""
        return sum(t.brain.startswith(LLM_FAILED) for t in self.ticks)

    @property
    def tokens(self) -> tuple[int, int, float]:
        return (sum(t.tokens_in for t in self.ticks), sum(t.tokens_out for t in self.ticks),
                sum(t.cost_usd for t in self.ticks))


# ---- verdicts -----------------------------------------------------------------------------------
class Verdict(BaseModel):
    ok: bool | None = None  # None: does not apply to this scenario
    reason: str = ""


class CaseScore(BaseModel):
    """The verdicts of one run of one scenario."""

    scenario: str
    kind: str
    control: bool
    detection: Verdict
    false_alarm: Verdict  # ok: no alarm where none was due (controls: any tick; faults: the quiet tick 0)
    localization: Verdict
    root_cause: Verdict
    mitigation: Verdict  # the action chosen
    executed: Verdict  # the approved action executed and verified
    ttd_ticks: int | None = None
    error: str | None = None
    # Scored apart from the verdicts (it does not decide ``passed``; evals.postmortem_scoring.score_case sets it):
    # None where no incident was opened.
    postmortem: RubricResult | None = None

    def verdicts(self) -> dict[str, Verdict]:
        return {"detection": self.detection, "false_alarm": self.false_alarm, "localization": self.localization,
                "root_cause": self.root_cause, "mitigation": self.mitigation, "executed": self.executed}

    @property
    def passed(self) -> bool:
        return self.error is None and all(v.ok is not False for v in self.verdicts().values())

    def misses(self) -> list[str]:
        """'dimension: reason' for each failed verdict."""
        out = [f"error: {self.error}"] if self.error else []
        return out + [f"{k}: {v.reason}" for k, v in self.verdicts().items() if v.ok is False]


NA = Verdict()


def _diag(t: TickResult) -> str:
    return f"{t.category} → {t.action} (culprit {', '.join(t.culprit) or '-'})"


def resolve_culprit(expected: list[str], released: str | None) -> list[str]:
    """Expected culprits with ``@release`` replaced by the version the world shipped."""
    return [(released or RELEASE) if c == RELEASE else c for c in expected]


def score_run(scenario: EvalScenario, run: ScenarioRun) -> CaseScore:
    """Score one run against the scenario's expectations."""
    exp = scenario.expected
    base = {"scenario": scenario.name, "kind": scenario.kind, "control": scenario.is_control}
    if run.error is not None:
        failed = Verdict(ok=False, reason=f"the run failed: {run.error}")
        return CaseScore(**base, detection=failed if exp.detected else NA, false_alarm=NA,
                         localization=failed if exp.culprit else NA, root_cause=failed if exp.detected else NA,
                         mitigation=failed if exp.detected else NA,
                         executed=failed if scenario.approve and exp.action != "none" else NA, error=run.error)
    if scenario.is_control:
        alarms = [t for t in run.ticks if t.detected]
        fa = (Verdict(ok=False, reason="; ".join(f"tick {t.tick} flagged {_diag(t)}: {t.summary[:160]}"
                                                 for t in alarms)) if alarms
              else Verdict(ok=True, reason=f"quiet over {len(run.ticks)} ticks"))
        return CaseScore(**base, detection=NA, false_alarm=fa, localization=NA, root_cause=NA, mitigation=NA,
                         executed=NA)
    quiet = [t for t in run.ticks if t.tick == 0 and t.detected]
    fa = (Verdict(ok=False, reason=f"tick 0, before the fault, flagged {_diag(quiet[0])}") if quiet
          else Verdict(ok=True, reason="tick 0 quiet"))
    first = run.concluding_detection(exp.detectable_from)
    if first is None:
        last = run.ticks[-1] if run.ticks else None
        why = (f"none of {len([t for t in run.ticks if t.tick >= 1])} ticks after the fault flagged anything"
               + (f" (last: {last.summary[:160]})" if last else ""))
        miss = Verdict(ok=False, reason="nothing was detected")
        return CaseScore(**base, detection=Verdict(ok=False, reason=why), false_alarm=fa,
                         localization=miss if exp.culprit else NA, root_cause=miss, mitigation=miss,
                         executed=miss if scenario.approve and exp.action != "none" else NA)
    detection = Verdict(ok=True, reason=f"tick {first.tick}: {_diag(first)}")
    localization = NA
    if exp.culprit:
        want = resolve_culprit(exp.culprit, run.released)
        missing = [c for c in want if c not in first.culprit]
        extra = [c for c in first.culprit if c not in want]
        note = f" (also named {', '.join(extra)})" if extra else ""
        localization = (Verdict(ok=True, reason=f"named {', '.join(want)}{note}") if not missing else
                        Verdict(ok=False, reason=f"missed {', '.join(missing)}; named "
                                                 f"{', '.join(first.culprit) or 'nothing'}"))
    root = (Verdict(ok=True, reason=first.category) if first.category == exp.category else
            Verdict(ok=False, reason=f"said {first.category}, expected {exp.category}"))
    mitigation = (Verdict(ok=True, reason=first.action) if first.action == exp.action else
                  Verdict(ok=False, reason=f"chose {first.action}, expected {exp.action}"))
    return CaseScore(**base, detection=detection, false_alarm=fa, localization=localization, root_cause=root,
                     mitigation=mitigation, executed=_executed(scenario, run, first),
                     ttd_ticks=max(1, (run.first_detection or first).tick - exp.detectable_from + 1))


def _executed(scenario: EvalScenario, run: ScenarioRun, first: TickResult) -> Verdict:
    if not scenario.approve or scenario.expected.action == "none":
        return NA
    m = run.mitigation
    if m is None:
        return Verdict(ok=False, reason="no proposal was filed to approve" if not first.proposal_id
                       else "the proposal was not answered")
    if m.status == "executed" and m.verified:
        return Verdict(ok=True, reason=f"executed and verified: {m.outcome[:160]}")
    return Verdict(ok=False, reason=f"{m.status}, verified={m.verified}: {m.outcome[:200]}")


# ---- totals -------------------------------------------------------------------------------------
class Rate(BaseModel):
    hits: int
    of: int

    @property
    def value(self) -> float | None:
        return self.hits / self.of if self.of else None

    def text(self) -> str:
        return f"{self.value:.0%} ({self.hits}/{self.of})" if self.of else "n/a"


class Totals(BaseModel):
    """The benchmark's headline numbers over every run (each repeat counts once)."""

    runs: int
    errors: int
    detection: Rate
    false_alarms_controls: int
    controls: int
    false_alarms_quiet_tick: int
    localization: Rate
    root_cause: Rate
    mitigation: Rate
    executed: Rate
    ttd_mean_ticks: float | None
    ttd_max_ticks: int | None
    passed: int
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    llm_fallbacks: int = Field(0, description="triages where the LLM failed and the offline policy decided")
    wall_seconds: float = 0.0
    postmortem_checks: Rate = Field(default_factory=lambda: Rate(hits=0, of=0),
                                    description="rubric checks passed over applicable, every post-mortem together")
    postmortems: Rate = Field(default_factory=lambda: Rate(hits=0, of=0),
                              description="post-mortems that passed every applicable check, over those scored")


def _rate(scores: list[CaseScore], field: str) -> Rate:
    applicable = [getattr(s, field) for s in scores if getattr(s, field).ok is not None]
    return Rate(hits=sum(v.ok for v in applicable), of=len(applicable))


def totals(scores: list[CaseScore], runs: list[ScenarioRun], wall_seconds: float = 0.0) -> Totals:
    """Aggregate the case scores (and the runs' token counts) into the headline numbers."""
    ttd = [s.ttd_ticks for s in scores if s.ttd_ticks is not None]
    controls = [s for s in scores if s.control]
    rubric = [s.postmortem for s in scores if s.postmortem is not None]
    return Totals(
        runs=len(scores), errors=sum(s.error is not None for s in scores), detection=_rate(scores, "detection"),
        false_alarms_controls=sum(s.false_alarm.ok is False for s in controls), controls=len(controls),
        false_alarms_quiet_tick=sum(s.false_alarm.ok is False for s in scores if not s.control),
        localization=_rate(scores, "localization"), root_cause=_rate(scores, "root_cause"),
        mitigation=_rate(scores, "mitigation"), executed=_rate(scores, "executed"),
        ttd_mean_ticks=sum(ttd) / len(ttd) if ttd else None, ttd_max_ticks=max(ttd) if ttd else None,
        passed=sum(s.passed for s in scores), tokens_in=sum(r.tokens[0] for r in runs),
        tokens_out=sum(r.tokens[1] for r in runs), cost_usd=sum(r.tokens[2] for r in runs),
        llm_fallbacks=sum(r.llm_fallbacks for r in runs), wall_seconds=wall_seconds,
        postmortem_checks=Rate(hits=sum(r.passed for r in rubric), of=sum(r.applicable for r in rubric)),
        postmortems=Rate(hits=sum(r.ok for r in rubric), of=len(rubric)))


class Target(BaseModel):
    name: str
    measured: str
    target: str
    met: bool | None  # None: nothing measured


def targets(t: Totals) -> list[Target]:
    """The issue's targets for the offline policy, each with what was measured."""
    def at_least(name: str, rate: Rate, goal: float) -> Target:
        v = rate.value
        return Target(name=name, measured=rate.text(), target=f">= {goal:.0%}", met=None if v is None else v >= goal)

    fa = t.false_alarms_controls + t.false_alarms_quiet_tick
    return [
        at_least("detection", t.detection, 1.0),
        Target(name="false alarms", measured=f"{fa} ({t.false_alarms_controls} on {t.controls} controls, "
               f"{t.false_alarms_quiet_tick} on quiet ticks)", target="0", met=fa == 0),
        at_least("localization", t.localization, 0.95),
        at_least("root cause", t.root_cause, 0.90),
        at_least("mitigation", t.mitigation, 0.90),
        Target(name="time to detect", measured="n/a" if t.ttd_max_ticks is None else
               f"mean {t.ttd_mean_ticks:.2f}, max {t.ttd_max_ticks} tick(s)", target="<= 1 tick",
               met=None if t.ttd_max_ticks is None else t.ttd_max_ticks <= 1),
        at_least("post-mortem rubric", t.postmortem_checks, 1.0),  # Step 11: every check on every post-mortem
    ]
