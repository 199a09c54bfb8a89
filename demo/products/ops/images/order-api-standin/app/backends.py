"""The three services the order-api STAND-IN uses, each through its own client:
PostgreSQL (psycopg2: the orders), Redis (redis-py: a counter and a cache of each order),
etcd (its v3 JSON gateway over HTTP: one registration key per instance).

A new connection per call: thread-safe under ThreadingHTTPServer and it recovers by itself
when a backend restarts.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any, Dict, List, Optional

import psycopg2
import redis
from conf import Conf

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id BIGSERIAL PRIMARY KEY,
    item TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    instance TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
COUNTER = "sealbox:orders:count"
REGISTRY = "/sealbox/order-api/instances/"


class Backends:
    def __init__(self, conf: Conf) -> None:
        self.conf = conf

    # -- PostgreSQL ------------------------------------------------------------------------
    def _pg(self) -> Any:
        c = self.conf
        return psycopg2.connect(
            host=c.get("POSTGRES_HOST"), port=c.port("POSTGRES_PORT"),
            dbname=c.get("POSTGRES_DATABASE"), user=c.get("POSTGRES_USER"),
            password=c.get("POSTGRES_PASSWORD"), connect_timeout=5,
        )  # fmt: skip

    def ensure_schema(self) -> None:
        conn = self._pg()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(SCHEMA)
        finally:
            conn.close()

    def add_order(self, item: str, qty: int) -> int:
        conn = self._pg()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO orders (item, qty, instance) VALUES (%s, %s, %s) RETURNING id",
                    (item, qty, self.conf.instance),
                )
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def get_order(self, order_id: int) -> Optional[Dict[str, Any]]:
        conn = self._pg()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT id, item, qty, instance, created_at FROM orders WHERE id=%s",
                    (order_id,),
                )
                r = cur.fetchone()
        finally:
            conn.close()
        if r is None:
            return None
        return {"id": r[0], "item": r[1], "qty": r[2], "instance": r[3], "created": str(r[4])}

    def count_orders(self) -> int:
        conn = self._pg()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM orders")
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    # -- Redis -----------------------------------------------------------------------------
    def _redis(self) -> Any:
        c = self.conf
        return redis.Redis(
            host=c.get("REDIS_HOST"), port=c.port("REDIS_PORT"), password=c.get("REDIS_PASSWORD"),
            socket_timeout=5, socket_connect_timeout=5,
        )  # fmt: skip

    def redis_ping(self) -> None:
        with self._redis() as r:
            if not r.ping():
                raise RuntimeError("PING not answered")

    def count_and_cache(self, order: Dict[str, Any]) -> int:
        with self._redis() as r:
            r.set(f"sealbox:order:{order['id']}", json.dumps(order), ex=3600)
            return int(r.incr(COUNTER))

    def redis_count(self) -> int:
        with self._redis() as r:
            return int(r.get(COUNTER) or 0)

    # -- etcd (v3 JSON gateway) ---------------------------------------------------------------
    def _etcd(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        c = self.conf
        url = f"http://{c.get('ETCD_HOST')}:{c.port('ETCD_PORT')}{path}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"{}")

    def register(self, address: str) -> None:
        key = base64.b64encode((REGISTRY + self.conf.instance).encode()).decode()
        value = base64.b64encode(address.encode()).decode()
        self._etcd("/v3/kv/put", {"key": key, "value": value})

    def registered(self) -> List[str]:
        start = REGISTRY.encode()
        end = start[:-1] + bytes([start[-1] + 1])
        doc = self._etcd(
            "/v3/kv/range",
            {"key": base64.b64encode(start).decode(), "range_end": base64.b64encode(end).decode()},
        )
        return sorted(base64.b64decode(kv["key"]).decode()[len(REGISTRY):]
                      for kv in doc.get("kvs", []))  # fmt: skip
