"""A loopback stand-in of the Kubernetes API server: the subset ``KubernetesBackend`` uses, over real HTTP.

Served: discovery (``/apis``), apps/v1 Deployments, batch/v1 Jobs, v1 Services, ConfigMaps, Pods and Events:
create (409 when it exists), read, list (label selectors), replace (409 on a stale resourceVersion, 422 on an
immutable ConfigMap) and delete. It plays the Deployment controller too: each read of a Deployment is one
reconcile, which starts pods for the current pod template (surging, keeping the old ones until every new one is
ready, as maxUnavailable=0 does) and makes a new pod ready after ``ready_after`` reconciles, unless a fault was
injected for new pods (``pod_fault``); ``k8s_standin_jobs`` runs Jobs. ``fail_next``: an HTTP error (409, 5xx)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from k8s_standin_jobs import JobController

PATH = re.compile(r"^/(?:api/v1|apis/(?:apps|batch)/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>[a-z]+)"
                  r"(?:/(?P<name>[^/]+))?$")
KINDS = {"deployments": "Deployment", "services": "Service", "configmaps": "ConfigMap", "pods": "Pod",
         "events": "Event", "jobs": "Job"}


def now_iso(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message,
            "code": code}


@dataclass
class Failure:
    code: int
    count: int
    method: str | None  # None: any method
    path: str | None  # None: any path; else a part of it


class ApiStandIn:
    """``with ApiStandIn() as k8s: KubernetesBackend(..., host=k8s.url)``."""

    def __init__(self, *, ready_after: int = 2, kserve: bool = False):
        self.ready_after, self.kserve = ready_after, kserve
        self.pod_fault: str | None = None  # image_pull | never_ready | crash_loop | oom, for pods started next
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._rv = 0
        self._pods = 0
        self.lock = threading.RLock()
        self.jobs = JobController(self, now_iso)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
                if m["kind"] in ("deployments", "jobs"):  # a read is one reconcile of the kind's controller
                    (self._reconcile if m["kind"] == "deployments" else self.jobs.reconcile)(self.objects[key])
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
        groups = [("apps", "v1")] + ([("serving.kserve.io", "v1beta1")] if self.kserve else [])
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]}

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
        if kind == "jobs":
            self.jobs.created(obj)
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

    # ---- the Deployment controller and the kubelet -----------------------------------------------
    def _reconcile(self, dep: dict[str, Any]) -> None:
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        template = dep["spec"]["template"]
        h = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:8]
        want = int(dep["spec"].get("replicas", 1))
        mine = [p for p in self.of_kind("pods", ns) if p["metadata"]["labels"].get("owner") == name]
        new = [p for p in mine if p["metadata"]["labels"]["pod-template-hash"] == h]
        for pod in mine:
            self._tick(pod)
        for extra in new[want:]:
            del self.objects[("pods", ns, extra["metadata"]["name"])]
        new = new[:want]
        while len(new) < want:
            new.append(self._start_pod(ns, name, h, template))
        if all(_ready(p) for p in new):
            for old in (p for p in mine if p not in new):
                self.objects.pop(("pods", ns, old["metadata"]["name"]), None)
        pods = [p for p in self.of_kind("pods", ns) if p["metadata"]["labels"].get("owner") == name]
        ready = sum(_ready(p) for p in pods)
        done = len(new) == want and ready == want == len(pods)
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"], "replicas": len(pods), "updatedReplicas": len(new),
            "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": max(0, want - ready),
            "conditions": [
                {"type": "Available", "status": "True" if ready >= want else "False",
                 "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True",
                 "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated"}]}

    def _start_pod(self, ns: str, owner: str, h: str, template: dict[str, Any]) -> dict[str, Any]:
        self._pods += 1
        name = f"{owner}-{h}-{self._pods}"
        container = template["spec"]["containers"][0]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_iso(),
                            "labels": {**template["metadata"]["labels"], "owner": owner, "pod-template-hash": h},
                            "annotations": dict(template["metadata"].get("annotations", {}))},
               "spec": {"containers": [container]},
               "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                          "containerStatuses": [{"name": container["name"], "image": container["image"],
                                                 "imageID": "", "ready": False, "restartCount": 0,
                                                 "state": {"waiting": {"reason": "ContainerCreating"}}}]},
               "_countdown": self.ready_after, "_fault": self.pod_fault}
        self._stamp(pod)
        self.objects[("pods", ns, name)] = pod
        self._event(ns, name, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to standin-node")
        return pod

    def _tick(self, pod: dict[str, Any]) -> None:
        """One kubelet sync: a starting pod moves one step towards ready, or into its injected fault."""
        if _ready(pod) or pod["_countdown"] <= 0:
            return
        pod["_countdown"] -= 1
        if pod["_countdown"] > 0:
            return
        ns, name, fault = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["_fault"]
        cs, st = pod["status"]["containerStatuses"][0], pod["status"]
        if fault == "image_pull":
            cs["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                       "message": f'Back-off pulling image "{cs["image"]}"'}}
            self._event(ns, name, "Warning", "Failed", f'Failed to pull image "{cs["image"]}": not found')
            return
        if fault == "crash_loop":
            st["phase"] = "Running"
            cs.update(restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff",
                                                         "message": "back-off 1m20s restarting failed container"}},
                      lastState={"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": now_iso()}})
            self._event(ns, name, "Warning", "BackOff", "Back-off restarting failed container scoring")
            return
        st["phase"] = "Running"
        cs["state"] = {"running": {"startedAt": now_iso()}}
        if fault == "never_ready":
            st["conditions"] = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                                 "message": "containers with unready status: [scoring]",
                                 "lastTransitionTime": now_iso()}]
            self._event(ns, name, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                        "statuscode: 503")
            return
        if fault == "oom":
            cs.update(restartCount=1, lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                                "finishedAt": now_iso()}})
            self._event(ns, name, "Warning", "BackOff", "Back-off restarting failed container scoring")
        cs["ready"] = True
        st["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": now_iso()}]

    def _event(self, ns: str, pod: str, type_: str, reason: str, message: str) -> None:
        self._rv += 1
        name = f"{pod}.{self._rv}"
        self.objects[("events", ns, name)] = {
            "apiVersion": "v1", "kind": "Event", "type": type_, "reason": reason, "message": message, "count": 1,
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_iso()},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns}, "lastTimestamp": now_iso()}

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


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
