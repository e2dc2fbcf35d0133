"""Run one scripted chat turn in a fresh process (LangSmith reads its environment once per process) and print
how many MLflow traces the home then holds. Used by test_tracing's LangSmith test."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
from fakes import ScriptedChatModel, answer
from langchain_core.tracers.langchain import wait_for_all_tracers
from world import make_ctx

from agent.tracing import TRACE_EXPERIMENT
from graphs.runner import GraphRunner
from ml_core.paths import HomeLayout

if __name__ == "__main__":
    layout = HomeLayout(Path(sys.argv[1])).ensure()
    ctx = make_ctx(layout, chat_model=ScriptedChatModel(script=[answer("all quiet")]))
    with GraphRunner(ctx) as runner:
        reply, _ = runner.chat("anything wrong?", thread_id="langsmith")
    wait_for_all_tracers()  # LangSmith's client posts runs from a background thread
    mlflow.flush_trace_async_logging()
    client = mlflow.MlflowClient(ctx.settings.tracking_uri)
    experiment = client.get_experiment_by_name(TRACE_EXPERIMENT)
    traces = client.search_traces(locations=[experiment.experiment_id]) if experiment else []
    print(f"{reply}|{len(traces)}")
