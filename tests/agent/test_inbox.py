"""Agent Inbox's wire format: the HumanInterrupt a graph pauses on, and the answers it sends back (a list of
one HumanResponse; accept and edit carrying an ActionRequest whose values are strings) beside our own."""

from __future__ import annotations

import time
import warnings

import pytest
from pydantic import TypeAdapter

from agent.proposals import (
    Accept,
    AnswerError,
    Edit,
    FixDataProposal,
    Ignore,
    ProposalEditError,
    Respond,
    RetrainProposal,
    inbox_request,
    parse_response,
)


def retrain() -> RetrainProposal:
    return RetrainProposal(model="churn", title="retrain churn", rationale="drift", champion_version="1",
                           expires_at=time.time() + 3600, brain="offline policy", window_since=100.0,
                           window_until=200.0, epochs=40)


def as_agent_inbox_sends(args: dict) -> dict:
    """What Agent Inbox's edit form sends back: every value a string (objects as JSON)."""
    import json

    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}


def test_the_interrupt_is_exactly_a_human_interrupt():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt.interrupt import HumanInterrupt
    request = inbox_request(retrain())
    assert set(request) == {"action_request", "config", "description"}
    assert set(request["action_request"]) == {"action", "args"}
    assert request["config"] == {"allow_ignore": True, "allow_respond": True, "allow_edit": True,
                                 "allow_accept": True}
    assert request["action_request"]["args"]["id"].startswith("prop-")
    assert TypeAdapter(HumanInterrupt).validate_python(request) == request
    fix = FixDataProposal(model="churn", title="t", rationale="r", champion_version="1", expires_at=1e10,
                          brain="offline policy", features=["x"], problem="nulls")
    assert inbox_request(fix)["config"]["allow_edit"] is False  # nothing of a data fix is editable


def test_agent_inbox_answers_come_as_a_list_of_one_and_take_where_from_the_run():
    answer = parse_response([{"type": "ignore", "args": None}], via="langgraph-api")
    assert answer == Ignore(by="unknown", via="langgraph-api")
    accept = parse_response([{"type": "accept", "args": {"action": "retrain", "args": {"epochs": "40"}}}],
                            by="alice", via="langgraph-api")
    assert isinstance(accept, Accept) and (accept.by, accept.via) == ("alice", "langgraph-api")
    respond = parse_response([{"type": "response", "args": "only the last 7 days"}], via="langgraph-api")
    assert respond == Respond(args="only the last 7 days", via="langgraph-api")


def test_our_own_answers_keep_who_and_where_they_say():
    answer = parse_response({"type": "accept", "by": "bob", "via": "slack"}, by="unknown", via="langgraph-api")
    assert (answer.by, answer.via) == ("bob", "slack")
    typed = Accept(by="carol", via="web")
    assert parse_response(typed) is typed


def test_an_agent_inbox_edit_is_reduced_to_the_fields_it_changes():
    p = retrain()
    args = as_agent_inbox_sends({**p.model_dump(mode="json"), "epochs": 12, "gate_min_gain": 0.02})
    answer = parse_response([{"type": "edit", "args": {"action": "retrain", "args": args}}], via="langgraph-api")
    assert isinstance(answer, Edit)
    done = answer.validated(p)
    assert done.args == {"epochs": 12, "gate_min_gain": 0.02}  # unchanged fields, sent as strings, drop out
    assert done.proposal is not None and done.proposal.epochs == 12 and done.proposal.id == p.id


def test_an_agent_inbox_edit_of_a_locked_field_is_refused_saying_which():
    p = retrain()
    args = as_agent_inbox_sends({**p.model_dump(mode="json"), "title": "something else"})
    answer = parse_response([{"type": "edit", "args": {"action": "retrain", "args": args}}], via="langgraph-api")
    with pytest.raises(ProposalEditError, match="cannot edit title"):
        answer.validated(p)  # type: ignore[union-attr]


def test_a_flat_edit_from_our_interfaces_still_works():
    p = retrain()
    done = Edit(args={"epochs": 5}, by="dan", via="cli").validated(p)
    assert done.args == {"epochs": 5} and done.proposal is not None and done.proposal.epochs == 5


def test_an_unknown_answer_type_says_what_answers_are():
    with pytest.raises(AnswerError, match="accept, edit, response or ignore"):
        parse_response([{"type": "approve", "args": None}], via="langgraph-api")
