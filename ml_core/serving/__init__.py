"""The scoring service: FastAPI app, traffic split, fallback, prediction logging, metrics.

Run it with ``python -m ml_core.serving --home HOME --model churn --port P``; deploy backends
(``ml_core.deploy``) start it and drive it through its state file and ``/admin/reload``.
"""
