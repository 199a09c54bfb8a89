"""Profiles as data: which items each module needs, with its thresholds.

Sources: the field guide's "Host requirements" (face service, license server) and the issue's
item list. An entry is ``{"id": kind, "required": bool, **thresholds}``; thresholds not given
use the kind's defaults (checks.py). ``*`` in the table marks ``required: False`` items.
Ports: license server 8887, face service 8300, MySQL ("databus") 5535.
"""

from __future__ import annotations

from typing import Any

BASE: list[dict[str, Any]] = [
    {"id": "os"},
    {"id": "arch"},
    {"id": "kernel"},
    {"id": "glibc"},
]

DOCKER: list[dict[str, Any]] = [
    {"id": "docker-installed"},
    {"id": "docker-version"},
    {"id": "docker-running"},
    {"id": "storage-driver"},
    {"id": "selinux"},
]

PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "about": "any Sealbox host: OS, kernel, glibc, CPU, memory, disk, Docker, LAN",
        "items": BASE
        + [
            {"id": "cpu-cores", "min": 2},
            {"id": "memory", "min_gb": 4},
            {"id": "disk-install", "min_gb": 20},
        ]
        + DOCKER
        + [
            {"id": "network"},
            {"id": "gcc", "required": False},
            {"id": "time-sync", "required": False},
        ],
    },
    "license-server": {
        "about": "license server (port 8887): physical machine, Docker, LAN",
        "items": BASE
        + [
            {"id": "cpu-cores", "min": 2},
            {"id": "memory", "min_gb": 2},
            {"id": "disk-install", "min_gb": 10},
        ]
        + DOCKER
        + [
            {"id": "physical", "allow_virtual": False},
            {"id": "network"},
            {"id": "ports", "ports": [8887]},
            {"id": "firewall", "required": False},
            {"id": "time-sync", "required": False},
        ],
    },
    "mysql": {
        "about": "MySQL / databus (port 5535): Docker, memory, disk",
        "items": BASE
        + [
            {"id": "cpu-cores", "min": 2},
            {"id": "memory", "min_gb": 4},
            {"id": "disk-install", "min_gb": 20},
            {"id": "disk-docker", "min_gb": 30},
        ]
        + DOCKER
        + [
            {"id": "network"},
            {"id": "ports", "ports": [5535]},
            {"id": "time-sync", "required": False},
        ],
    },
    "face-server": {
        "about": "face recognition service (port 8300): GPU >= 6 GB, 32 GB RAM, 100 GB disk",
        "items": [
            {"id": "os", "min": {"centos": "7.2", "rhel": "7.2"}},
            {"id": "arch"},
            {"id": "kernel"},
            {"id": "glibc"},
            {"id": "gcc", "required": False},
            {"id": "cpu-cores", "min": 4},
            {"id": "memory", "min_gb": 32},
            {"id": "disk-install", "min_gb": 100},
            {"id": "disk-docker", "min_gb": 30},
        ]
        + DOCKER
        + [
            {"id": "firewall", "required": False},
            {"id": "nvidia-driver"},
            {"id": "nvidia-driver-recommended", "required": False},
            {"id": "gpu", "min_count": 1, "min_memory_gb": 6},
            {"id": "nouveau"},
            {"id": "kernel-headers", "required": False},
            {"id": "nvidia-runtime"},
            {"id": "network"},
            {"id": "ports", "ports": [8300]},
            {"id": "time-sync", "required": False},
        ],
    },
}

ALIASES = {"offline-security-server": "license-server"}
"""The reference tool's name for the license server profile."""

MERGE_DICTS = {"min"}
"""Dict thresholds that merge into the kind's default (face-server tightens CentOS to 7.2
without dropping Ubuntu), instead of replacing it."""
