"""A loopback stand-in of the Kubernetes API server: the subset ``KubernetesBackend`` uses, over real HTTP.

Served: discovery (``/apis``), apps/v1 Deployments, batch/v1 Jobs, v1 Services, ConfigMaps, Pods and Events:
create (409 when it exists), read, list (label selectors), replace (409 on a stale resourceVersion, 422 on an
immutable ConfigMap) and delete. It plays the Deployment controller too: each read of a Deployment is one
reconcile, which starts pods for the current pod template (surging, keeping the old ones until every new one is
ready, as maxUnavailable=0 does) and makes a new pod ready after ``ready_after`` reconciles, unless a fault was
injected for new pods (``pod_fault``; k8s_standin_deployments). ``k8s_standin_jobs`` runs Jobs, and
``k8s_standin_pytorchjobs`` Kubeflow PyTorchJobs when ``pytorchjob=True`` (discovery then lists
``kubeflow.org/v1`` ``pytorchjobs``). ``fail_next``: an HTTP error (409, 5xx)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from k8s_standin_deployments import DeploymentController, now_iso
from k8s_standin_jobs import JobController
from k8s_standin_pytorchjobs import PyTorchJobController

PATH = re.compile(r"^/(?:api/v1|apis/(?:apps|batch|kubeflow\.org)/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>[a-z]+)"
                  r"(?:/(?P<name>[^/]+))?$")
KINDS = {"deployments": "Deployment", "services": "Service", "configmaps": "ConfigMap", "pods": "Pod",
         "events": "Event", "jobs": "Job", "pytorchjobs": "PyTorchJob"}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message,
            "code": code}


@dataclass
class Failure:
    code: int
    count: int
    method: str | None  # None: any method
    path: str | None  # None: any path; else a part of it


class ApiStandIn(DeploymentController):
    """``with ApiStandIn() as k8s: KubernetesBackend(..., host=k8s.url)``."""

    def __init__(self, *, ready_after: int = 2, kserve: bool = False, pytorchjob: bool = False):
        self.ready_after, self.kserve, self.pytorchjob = ready_after, kserve, pytorchjob
        self.pod_fault: str | None = None  # image_pull | never_ready | crash_loop | oom, for pods started next
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._rv = 0
        self._pods = 0
        self.lock = threading.RLock()
        self.jobs, self.pytorchjobs = JobController(self, now_iso), PyTorchJobController(self, now_iso)
        self.controllers = {"jobs": self.jobs, "pytorchjobs": self.pytorchjobs}  # a read of theirs reconciles
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this stand-in (no credentials), for a client or a CLI."""
        path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: standin, cluster: {{server: "{self.url}"}}}}]
users: [{{name: nobody, user: {{}}}}]
contexts: [{{name: standin, context: {{cluster: standin, user: nobody}}}}]
current-context: standin
""")
        return path
    def __enter__(self) -> ApiStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, code: int, count: int = 1, method: str | None = None, path: str | None = None) -> None:
        """The next ``count`` requests (of ``method``, whose path contains ``path``) answer ``code``."""
        with self.lock:
            self.failures.append(Failure(code, count, method, path))

    def get(self, kind: str, name: str, ns: str = "default") -> dict[str, Any] | None:
        return self.objects.get((kind, ns, name))

    def of_kind(self, kind: str, ns: str = "default") -> list[dict[str, Any]]:
        return [o for (k, n, _), o in sorted(self.objects.items()) if k == kind and n == ns]

    # ---- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, url: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            parsed = urlparse(url)
            failed = self._injected(method, parsed.path)
            if failed is not None:
                return failed, status_body(failed, "Conflict" if failed == 409 else "InternalError", "injected")
            if parsed.path.rstrip("/") == "/apis":
                return 200, self._discovery()
            if parsed.path.rstrip("/") == "/apis/kubeflow.org/v1":
                return self._kubeflow_resources()
            m = PATH.match(parsed.path)
            if m is None or m["kind"] not in KINDS:
                return 404, status_body(404, "NotFound", f"no route {parsed.path}")
            key = (m["kind"], m["ns"], m["name"] or "")
            if method == "GET" and not m["name"]:
                return 200, self._list(m["kind"], m["ns"], parse_qs(parsed.query).get("labelSelector", [""])[0])
            if method == "POST":
                return self._create(m["kind"], m["ns"], body or {})
            if key not in self.objects:
                return 404, status_body(404, "NotFound", f'{m["kind"]} "{m["name"]}" not found')
            if method == "GET":
                if m["kind"] == "deployments" or m["kind"] in self.controllers:  # a read is one reconcile
                    (self.controllers[m["kind"]].reconcile if m["kind"] in self.controllers else self._reconcile)(
                        self.objects[key])
                return 200, self.objects[key]
            if method == "PUT":
                return self._replace(key, body or {})
            if method == "DELETE":  # a Service answers with itself (the client reads a V1Service), others a Status
                gone = self.objects.pop(key)
                return 200, gone if m["kind"] == "services" else {"kind": "Status", "status": "Success"}
            return 405, status_body(405, "MethodNotAllowed", method)

    def _injected(self, method: str, path: str) -> int | None:
        for f in self.failures:
            if f.count > 0 and (f.method in (None, method)) and (f.path is None or f.path in path):
                f.count -= 1
                return f.code
        return None

    def _discovery(self) -> dict[str, Any]:
        groups = [("apps", "v1")] + ([("serving.kserve.io", "v1beta1")] if self.kserve else []) + \
            ([("kubeflow.org", "v1")] if self.pytorchjob else [])
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]}

    def _kubeflow_resources(self) -> tuple[int, dict[str, Any]]:
        """``/apis/kubeflow.org/v1``: the training operator's CRD once installed (``pytorchjob=True``)."""
        if not self.pytorchjob:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource")
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "kubeflow.org/v1", "resources": [
            {"name": "pytorchjobs", "singularName": "pytorchjob", "namespaced": True, "kind": "PyTorchJob",
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]}

    def _list(self, kind: str, ns: str, label_selector: str) -> dict[str, Any]:
        wanted = dict(p.split("=", 1) for p in label_selector.split(",") if p)
        items = [o for o in self.of_kind(kind, ns)
                 if all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return {"kind": f"{KINDS[kind]}List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self._rv)},
                "items": items}

    def _stamp(self, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _create(self, kind: str, ns: str, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = obj["metadata"]["name"]
        if (kind, ns, name) in self.objects:
            return 409, status_body(409, "AlreadyExists", f'{kind} "{name}" already exists')
        obj["metadata"].update(namespace=ns, creationTimestamp=now_iso(), uid=f"uid-{self._rv + 1}")
        if kind == "deployments":
            obj["metadata"]["generation"] = 1
            obj["status"] = {}
        self.add_object(kind, obj)
        if kind in self.controllers:
            self.controllers[kind].created(obj)
        return 201, obj

    def add_object(self, kind: str, obj: dict[str, Any]) -> None:
        self._stamp(obj)
        self.objects[(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    def _replace(self, key: tuple[str, str, str], obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        old = self.objects[key]
        sent = obj["metadata"].get("resourceVersion")
        if sent and sent != old["metadata"]["resourceVersion"]:
            return 409, status_body(409, "Conflict", "the object has been modified; please apply your changes "
                                    "to the latest version and try again")
        if old.get("immutable"):
            return 422, status_body(422, "Invalid", "field is immutable when `immutable` is set")
        for field in ("creationTimestamp", "uid", "generation", "namespace"):
            if field in old["metadata"]:
                obj["metadata"][field] = old["metadata"][field]
        if key[0] == "deployments":
            obj["status"] = old.get("status", {})
            if obj["spec"] != old["spec"]:
                obj["metadata"]["generation"] = old["metadata"]["generation"] + 1
        self._stamp(obj)
        self.objects[key] = obj
        return 200, obj

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, answer = standin.handle(self.command, self.path, body)
                standin.requests.append((self.command, self.path, code))
                data = json.dumps(_public(answer)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *_args: Any) -> None:  # quiet: the requests are in standin.requests
                return

        return Handler


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """What goes on the wire: the stand-in's own bookkeeping (keys starting with '_') stays in it."""
    out = {k: v for k, v in obj.items() if not k.startswith("_")}
    if "items" in out:
        out["items"] = [_public(i) for i in out["items"]]
    return out
