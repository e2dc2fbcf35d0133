# The opsagent image: the scoring service (`python -m ml_core.serving`, what the Kubernetes backend runs) and
# `opsagent serve` (web, Slack, scheduler) from one build.
#   docker build -t opsagent:latest .
#   docker run --rm -p 8080:8080 -e OPSAGENT_MLFLOW_TRACKING_URI=http://mlflow:5000 opsagent:latest \
#       python -m ml_core.serving --home /var/lib/opsagent --model churn --host 0.0.0.0 --port 8080
#   docker run --rm -p 8780:8780 -e OPSAGENT_WEB_HOST=0.0.0.0 opsagent:latest opsagent serve
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    OPSAGENT_HOME=/var/lib/opsagent OPSAGENT_TRACING=off
WORKDIR /app

# torch first, pinned, CPU build: the default index pulls several GB of CUDA wheels a scoring pod never uses
# (build a GPU image with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

# Dependencies before the source, so a code change rebuilds only the last layers.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p interfaces agent tools graphs ml_core evals \
    && pip install -c constraints.txt . && pip uninstall -y opsagent
COPY interfaces ./interfaces
COPY agent ./agent
COPY tools ./tools
COPY graphs ./graphs
COPY ml_core ./ml_core
COPY evals ./evals
RUN pip install --no-deps -c constraints.txt .

# Not root: the pod's securityContext may run it as any uid; the home is writable by group 0 as OpenShift expects.
RUN useradd --uid 10001 --gid 0 --home-dir /var/lib/opsagent opsagent \
    && mkdir -p /var/lib/opsagent && chown 10001:0 /var/lib/opsagent && chmod g+rwX /var/lib/opsagent
USER 10001
EXPOSE 8080 8780
CMD ["python", "-m", "ml_core.serving", "--home", "/var/lib/opsagent", "--model", "churn", "--host", "0.0.0.0", \
     "--port", "8080"]
