# One command each: `make demo` sets up and runs the main job, `make test` runs the tests.
.PHONY: setup demo test test-fast lint bench eval
setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/opsagent demo

test: setup
	.venv/bin/pytest

test-fast: setup
	.venv/bin/pytest -m "not slow"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m evals.bench_drift
	.venv/bin/python -m evals.bench_serving
	.venv/bin/python -m evals.bench_training
	.venv/bin/python -m evals.bench_memory
	.venv/bin/python -m evals.bench_predlog
	.venv/bin/python -m evals.bench_demo

eval: setup
	.venv/bin/opsagent eval
