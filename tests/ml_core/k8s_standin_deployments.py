"""The stand-in's Deployment controller and kubelet (k8s_standin serves the API): a mixin of ``ApiStandIn``."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any


def now_iso(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))


class DeploymentController:
    """Each read of a Deployment is one ``_reconcile``; needs the stand-in's ``objects``, ``of_kind``,
    ``_stamp``, ``_pods``, ``ready_after`` and ``pod_fault``."""

    objects: dict[tuple[str, str, str], dict[str, Any]]
    ready_after: int
    pod_fault: str | None
    _pods: int
    _rv: int

    def of_kind(self, kind: str, ns: str = "default") -> list[dict[str, Any]]:
        raise NotImplementedError

    def _stamp(self, obj: dict[str, Any]) -> None:
        raise NotImplementedError

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


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
