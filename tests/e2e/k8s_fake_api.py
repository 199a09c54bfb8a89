"""A stand-in Kubernetes API server on 127.0.0.1 for kubectl, with no cluster behind it.

It answers discovery, server-side apply (stores the object as sent, no defaulting, no
admission, no schema check), get/list/watch/delete and marks every workload as rolled out.
What it proves: kubectl parses our manifests, maps every kind, and our apply / rollout /
status / delete command lines work end to end. What it does not: that a real API server
admits the objects or that pods run (see installer/k8s/README.md).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

CORE = {
    "namespaces": ("Namespace", False),
    "configmaps": ("ConfigMap", True),
    "secrets": ("Secret", True),
    "services": ("Service", True),
    "persistentvolumeclaims": ("PersistentVolumeClaim", True),
}
APPS = {"deployments": ("Deployment", True), "statefulsets": ("StatefulSet", True)}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str, table: dict) -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": n, "singularName": k.lower(), "namespaced": ns, "kind": k, "verbs": VERBS}
            for n, (k, ns) in table.items()
        ],
    }


def _openapi_v3(prefix: str, group: str, table: dict) -> dict:
    """Just enough OpenAPI v3 for kubectl to see that PATCH takes `fieldValidation`, so it
    leaves field validation to the server (which this stub does not do)."""
    paths = {}
    for resource, (kind, namespaced) in table.items():
        path = (
            f"/{prefix}/namespaces/{{namespace}}/{resource}/{{name}}"
            if namespaced
            else (f"/{prefix}/{resource}/{{name}}")
        )
        gvk = {"group": group, "version": "v1", "kind": kind}
        paths[path] = {
            "patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {"openapi": "3.0.0", "info": {"title": "fake", "version": "v1"}, "paths": paths}


OPENAPI = {
    "/openapi/v3/api/v1": _openapi_v3("api/v1", "", CORE),
    "/openapi/v3/apis/apps/v1": _openapi_v3("apis/apps/v1", "apps", APPS),
}


def _rolled_out(obj: dict) -> None:
    spec = obj.get("spec") or {}
    n = int(spec.get("replicas", 1))
    status = {"observedGeneration": 1, "replicas": n, "readyReplicas": n, "updatedReplicas": n}
    if obj["kind"] == "Deployment":
        status["availableReplicas"] = n
    else:
        spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        status.update(currentReplicas=n, currentRevision="r1", updateRevision="r1")
        status["availableReplicas"] = n
    obj["status"] = status


class FakeApi:
    def __init__(self, never_ready: tuple[str, ...] = ()) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}  # (resource, ns, name) -> object
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.version = 1
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self) -> tuple[str, str, str, dict]:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                parts = [p for p in url.path.split("/") if p]
                parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
                ns = ""
                if len(parts) >= 2 and parts[0] == "namespaces" and len(parts) != 2:
                    ns, parts = parts[1], parts[2:]
                resource = parts[0] if parts else ""
                name = parts[1] if len(parts) > 1 else ""
                return resource, ns, name, query

            def _missing(self) -> None:
                self._send(
                    404,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "NotFound",
                        "code": 404,
                        "message": "not found",
                    },
                )

            def do_GET(self) -> None:
                api.requests.append(f"GET {self.path}")
                path = urllib.parse.urlsplit(self.path).path
                if path == "/version":
                    return self._send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
                if path == "/openapi/v3":
                    return self._send(
                        200,
                        {
                            "paths": {
                                k[len("/openapi/v3/") :]: {"serverRelativeURL": k} for k in OPENAPI
                            }
                        },
                    )
                if path in OPENAPI:
                    return self._send(200, OPENAPI[path])
                if path == "/api":
                    return self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
                if path == "/apis":
                    gv = {"groupVersion": "apps/v1", "version": "v1"}
                    return self._send(
                        200,
                        {
                            "kind": "APIGroupList",
                            "apiVersion": "v1",
                            "groups": [{"name": "apps", "versions": [gv], "preferredVersion": gv}],
                        },
                    )
                if path == "/api/v1":
                    return self._send(200, _resource_list("v1", CORE))
                if path == "/apis/apps/v1":
                    return self._send(200, _resource_list("apps/v1", APPS))
                resource, ns, name, query = self._route()
                if query.get("watch") in ("1", "true"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with api.lock:
                    if name:
                        obj = api.objects.get((resource, ns, name))
                        return self._send(200, obj) if obj else self._missing()
                    items = [
                        o
                        for (r, n, _), o in sorted(api.objects.items())
                        if r == resource and (not ns or n == ns) and api.matches(o, query)
                    ]
                kind = (CORE.get(resource) or APPS.get(resource) or ("Unknown",))[0]
                self._send(
                    200,
                    {
                        "kind": f"{kind}List",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(api.version)},
                        "items": items,
                    },
                )

            def do_PATCH(self) -> None:
                api.requests.append(f"PATCH {self.path} {self.headers.get('Content-Type')}")
                resource, ns, name, _ = self._route()
                body = yaml.safe_load(self.rfile.read(int(self.headers["Content-Length"])))
                with api.lock:
                    api.version += 1
                    meta = body.setdefault("metadata", {})
                    meta.update(generation=1, resourceVersion=str(api.version), uid=f"uid-{name}")
                    if (
                        body.get("kind") in ("Deployment", "StatefulSet")
                        and name not in never_ready
                    ):
                        _rolled_out(body)
                    api.objects[(resource, ns, name)] = body
                self._send(200, body)

            def do_DELETE(self) -> None:
                api.requests.append(f"DELETE {self.path}")
                resource, ns, name, _ = self._route()
                with api.lock:
                    obj = api.objects.pop((resource, ns, name), None)
                    if obj is None:
                        return self._missing()
                self._send(200, obj)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def matches(obj: dict, query: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for term in _selector_terms(query.get("labelSelector", "")):
            if " in (" in term:  # set-based: key in (a,b)
                key, _, rest = term.partition(" in (")
                if labels.get(key.strip()) not in {v.strip() for v in rest.rstrip(")").split(",")}:
                    return False
                continue
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
        for term in filter(None, query.get("fieldSelector", "").split(",")):
            key, _, value = term.partition("=")
            if key == "metadata.name" and obj["metadata"]["name"] != value:
                return False
        return True

    def kubeconfig(self, path: str) -> str:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(doc, fh)
        return path

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _selector_terms(selector: str) -> list[str]:
    """Split a label selector on the commas that are not inside `in (...)` sets."""
    terms, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current:
        terms.append(current)
    return [t for t in terms if t]
