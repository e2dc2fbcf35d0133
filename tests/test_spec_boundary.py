"""The churn table is one spec among others: its schema is imported only where the churn demo data is loaded,
and no runtime module names a churn column (they read the model's spec)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ml_core", "agent", "tools", "graphs", "interfaces", "evals")
# Where the churn demo's data or its feature set is defined, and benchmarks that measure the churn model itself.
CHURN_HOMES = {
    "ml_core/data/churn.py",  # the data set and its schema
    "ml_core/spec/builtin.py",  # the demo's spec, built from that schema
    "evals/bench_training.py", "evals/bench_serving.py", "evals/bench_serving_inproc.py",  # benchmarks of the
    # churn model (README figures)
    "evals/ddp_seed_spread.py",  # the churn model's seed-to-seed spread, where the DDP test's tolerance comes from
}
# feature_set "churn": the demo's engineered features, chosen by a spec field, never by a column's presence.
CHURN_FEATURE_SET = {"ml_core/features.py", "ml_core/features_records.py", "ml_core/baseline.py"}
CHURN_COLUMNS = ("total_day_minutes", "international_plan", "voice_mail_plan", "number_customer_service_calls")


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def _imports_churn(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ml_core.data.churn":
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == "CHURN_SCHEMA" for a in node.names):
            return True
        if isinstance(node, ast.Import) and any(a.name == "ml_core.data.churn" for a in node.names):
            return True
    return False


def test_churn_schema_is_imported_only_where_churn_data_is_loaded():
    offenders = [rel for rel, path in _modules()
                 if rel not in CHURN_HOMES and _imports_churn(ast.parse(path.read_text()))]
    assert offenders == []


def test_no_runtime_module_names_a_churn_column():
    """Policy, tools, graphs, the serving and monitoring code take columns from the spec. (Memory fixtures and
    tool docstrings may use churn as an example; they are text, not logic.)"""
    runtime = [(rel, path) for rel, path in _modules() if not rel.startswith("evals/")
               and rel not in CHURN_HOMES | CHURN_FEATURE_SET]
    offenders = []
    for rel, path in runtime:
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and any(c in node.value for c in CHURN_COLUMNS)):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_the_boundary_lists_are_real_files():
    """A renamed module must not silently widen the allowlist."""
    for rel in CHURN_HOMES | CHURN_FEATURE_SET:
        assert (ROOT / rel).exists(), rel
