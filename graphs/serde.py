"""How graph state is written into checkpoints: LangGraph's JsonPlus serializer, with our state types allowed.

State holds typed objects (the proposal, the answer, the signals, the diagnosis). The serializer stores a
pydantic object as (module, class, fields) and rebuilds it on load only for the types it is told about; any
other type comes back as a plain dict (or, in LangGraph's strict mode, is refused), so the allowlist is the
checkpoint's typed boundary.
"""

from __future__ import annotations

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agent.diagnosis import Diagnosis, TriageSignals
from agent.proposals import ANSWER_TYPES, PROPOSAL_TYPES

STATE_TYPES: tuple[type, ...] = (*PROPOSAL_TYPES, *ANSWER_TYPES, TriageSignals, Diagnosis)


def state_serializer() -> JsonPlusSerializer:
    """The serializer every checkpointer of ours uses."""
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in STATE_TYPES])
