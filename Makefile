# One command each: `make demo` sets up and runs the main job, `make test` runs the tests.
.PHONY: setup demo test test-fast lint bench eval
setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/opsagent demo

# Test files run in parallel (pytest-xdist, one worker per core up to 4; a file's tests stay on one worker, so its
# module fixtures are built once): most tests wait on real servers and subprocesses, not on the CPU.
PYTEST_PARALLEL = -n auto --maxprocesses 4 --dist loadfile --durations=25

test: setup
	.venv/bin/pytest $(PYTEST_PARALLEL)

test-fast: setup
	.venv/bin/pytest $(PYTEST_PARALLEL) -m "not slow"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m evals.bench_drift
	.venv/bin/python -m evals.bench_serving --rounds 3
	.venv/bin/python -m evals.bench_training
	.venv/bin/python -m evals.bench_memory
	.venv/bin/python -m evals.bench_predlog
	.venv/bin/python -m evals.bench_demo

eval: setup
	.venv/bin/opsagent eval
