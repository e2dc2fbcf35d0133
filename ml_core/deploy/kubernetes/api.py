"""The Kubernetes API as the backend uses it: one client, bounded retries, errors in words.

Two failures are retried, each a bounded number of times: a 409 Conflict on an update (someone else wrote the
object since we read it: read it again, re-apply our change, write again) and a 5xx or a dropped connection
(the API server restarting or failing over). Anything else, or a retry budget spent, is a ``DeploymentError``
that says what was attempted and what the API answered.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ml_core.deploy.base import DeploymentError

log = logging.getLogger(__name__)
T = TypeVar("T")
# An API server failing over (a new etcd leader, a restarted apiserver behind its load balancer) answers 5xx or
# drops connections for a second or two; 5 attempts 0.2 s apart, doubling (0.2+0.4+0.8+1.6 = 3 s), ride that
# out, and a longer outage is reported rather than hidden behind minutes of retrying.
SERVER_ATTEMPTS = 5
# A 409 means another writer changed the object between our read and our write; five in a row means writers
# fighting over it, which a person should look at.
CONFLICT_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 10.0  # per request: the API answers reads in milliseconds; past this it is not answering


class ApiUnreachable(DeploymentError):
    """The API server did not answer (connection refused, timeout, 5xx after the retries)."""


def make_api_client(*, kubeconfig: str | None = None, context: str | None = None,
                    host: str | None = None) -> client.ApiClient:
    """An ``ApiClient`` for ``host`` (an explicit server, no credentials: a loopback API), else the kubeconfig's
    ``context`` (default: ``$KUBECONFIG`` or ``~/.kube/config``, its current context), else the in-cluster
    service account when opsagent itself runs in a pod."""
    if host:
        cfg = client.Configuration(host=host)
        cfg.retries = 0  # our own retry policy decides; urllib3's would multiply it
        return client.ApiClient(cfg)
    try:
        if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            cfg = client.Configuration()
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                    persist_config=False)
        else:
            config.load_incluster_config()
            cfg = client.Configuration.get_default_copy()
    except (ConfigException, OSError) as exc:
        raise DeploymentError(f"cannot configure the Kubernetes client ({exc}); set OPSAGENT_K8S_KUBECONFIG / "
                              f"--kubeconfig to a kubeconfig file and OPSAGENT_K8S_CONTEXT / --context to one "
                              f"of its contexts") from exc
    cfg.retries = 0
    return client.ApiClient(cfg)


def api_message(exc: ApiException) -> str:
    """The API's own message from a Status body, else the HTTP reason."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def call(fn: Callable[..., T], *args: Any, what: str, retry_base_s: float = 0.2, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with 5xx and connection errors retried (bounded); other API errors raise
    ``DeploymentError`` naming ``what`` was attempted. A 409 is re-raised as is, for ``update`` to handle."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT_S)
    for attempt in range(1, SERVER_ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 409:
                raise
            if exc.status is None or exc.status < 500:
                hint = (" (the kubeconfig's user needs the Role in the README's 'Run it on Kubernetes')"
                        if exc.status in (401, 403) else "")
                raise DeploymentError(f"{what}: the Kubernetes API answered {exc.status} "
                                      f"{api_message(exc)}{hint}") from exc
            failure = f"HTTP {exc.status} {api_message(exc)}"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if attempt == SERVER_ATTEMPTS:
            raise ApiUnreachable(f"{what}: the Kubernetes API failed {SERVER_ATTEMPTS} times in a row "
                                 f"(last: {failure}); routing is unchanged")
        log.warning("%s: %s; retrying (%d/%d)", what, failure, attempt, SERVER_ATTEMPTS)
        time.sleep(retry_base_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def update(read: Callable[..., T], change: Callable[[T], Any], write: Callable[..., T], *, what: str,
           retry_base_s: float = 0.2) -> T:
    """Read-modify-write under optimistic concurrency: ``write(change(read()))``; on 409 read again and
    repeat, at most ``CONFLICT_ATTEMPTS`` times. ``change`` must be safe to apply to a fresh read; ``read`` and
    ``write`` take the client's keyword arguments (``_request_timeout``)."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        current = call(read, what=f"{what} (read)", retry_base_s=retry_base_s)
        try:
            return call(write, change(current), what=what, retry_base_s=retry_base_s)
        except ApiException as exc:  # only a 409 gets here
            log.info("%s: conflict (%s); re-reading (%d/%d)", what, api_message(exc), attempt, CONFLICT_ATTEMPTS)
    raise DeploymentError(f"{what}: the object kept changing under us ({CONFLICT_ATTEMPTS} conflicts in a row: "
                          f"another writer is updating it); routing is unchanged, try again")


def create(fn: Callable[..., T], *args: Any, what: str, retry_base_s: float = 0.2) -> T | None:
    """Create an object; ``None`` when it already exists (409 AlreadyExists), so creating is idempotent."""
    try:
        return call(fn, *args, what=what, retry_base_s=retry_base_s)
    except ApiException:
        return None


def exists(fn: Callable[..., Any], *args: Any, what: str, retry_base_s: float = 0.2, **kwargs: Any) -> Any | None:
    """Read (or delete) an object; ``None`` on 404."""
    try:
        return call(fn, *args, what=what, retry_base_s=retry_base_s, **kwargs)
    except DeploymentError as exc:
        if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
            return None
        raise
