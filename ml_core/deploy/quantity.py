"""Kubernetes resource quantities (``500m``, ``2``, ``4Gi``) checked where a person types them.

The API server would refuse a bad one too, but only after the data was staged, and in its own words; the
grammar here is the API's (the pattern apiextensions puts on every ``int-or-string`` quantity in a CRD),
without the minus sign: a request or limit is never negative. No ``kubernetes`` import at the top: the settings
use it.
"""

from __future__ import annotations

import re

QUANTITY = re.compile(r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|"
                      r"(\.[0-9]+))))?$")
EXAMPLES = {"cpu": "cores as 2 or 0.5, or millicores as 500m", "memory": "bytes with a suffix: 4Gi, 512Mi, 8G"}


def check_quantity(value: str, what: str = "cpu") -> str:
    """``value`` stripped, if it is a Kubernetes quantity; else ``ValueError`` saying how to write one."""
    text = str(value).strip()
    if not QUANTITY.match(text):
        raise ValueError(f"{value!r} is not a Kubernetes quantity; write {EXAMPLES.get(what, EXAMPLES['cpu'])}")
    return text


def check_cpu(value: str) -> str:
    return check_quantity(value, "cpu")


def check_memory(value: str) -> str:
    return check_quantity(value, "memory")


def check_optional_cpu(value: str | None) -> str | None:
    return None if value is None or not str(value).strip() else check_cpu(value)


def check_optional_memory(value: str | None) -> str | None:
    return None if value is None or not str(value).strip() else check_memory(value)


def check_limit(what: str, request: str, limit: str | None) -> None:
    """``ValueError`` when ``limit`` is below ``request`` (Kubernetes refuses such a pod)."""
    if limit is None:
        return
    from kubernetes.utils import parse_quantity  # the client's own reading of a quantity; only when needed

    if parse_quantity(limit) < parse_quantity(request):
        raise ValueError(f"the {what} limit {limit} is below the {what} request {request}: Kubernetes refuses "
                         f"such a pod; raise the limit or lower the request")
