"""Face records in MySQL, for the face-server STAND-IN.

A new connection per call: simple, thread-safe with ThreadingHTTPServer, and it recovers on
its own when MariaDB restarts (no stale pooled connection to detect).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import pymysql
from service_conf import ServiceConf

SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    dim INT UNSIGNED NOT NULL,
    feature MEDIUMTEXT NOT NULL COMMENT 'JSON array of floats',
    instance VARCHAR(64) NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


# 1.1 (the v2 of the demo product) adds a column and migrates the table at start: the data of
# an older version is changed in place, so its spec says `migrates_data: true`.
SCHEMA_LEVEL = 2 if os.environ.get("FACE_SERVER_VERSION", "1.0") >= "1.1" else 1
MIGRATE_2 = "ALTER TABLE faces ADD COLUMN quality FLOAT NULL DEFAULT NULL"


class FaceStore:
    """CRUD on the faces table with the credentials from service.conf."""

    def __init__(self, conf: ServiceConf) -> None:
        self.conf = conf

    def _connect(self) -> pymysql.connections.Connection:
        c = self.conf
        return pymysql.connect(
            host=c.mysql_host,
            port=c.mysql_port,
            user=c.mysql_user,
            password=c.mysql_password,
            database=c.mysql_database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            read_timeout=10,
            write_timeout=10,
        )

    def ensure_schema(self) -> None:
        """Idempotent: every instance runs it at start and on each re-check."""
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(SCHEMA)
            if SCHEMA_LEVEL >= 2:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=DATABASE()"
                    " AND TABLE_NAME='faces' AND COLUMN_NAME='quality'"
                )
                if not cur.fetchone()[0]:
                    cur.execute(MIGRATE_2)
            cur.execute("SELECT 1 FROM faces LIMIT 1")

    def add(self, name: str, feature: List[float]) -> int:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO faces (name, dim, feature, instance) VALUES (%s, %s, %s, %s)",
                (name, len(feature), json.dumps(feature), self.conf.instance),
            )
            return int(cur.lastrowid)

    def list(self) -> List[Dict[str, Any]]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, name, dim, instance, created_at FROM faces ORDER BY id")
            return [
                {"id": r[0], "name": r[1], "dim": r[2], "instance": r[3], "created": str(r[4])}
                for r in cur.fetchall()
            ]

    def get(self, face_id: int) -> Optional[Dict[str, Any]]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT id, name, dim, feature, instance, created_at FROM faces WHERE id=%s",
                (face_id,),
            )
            r = cur.fetchone()
        if r is None:
            return None
        return {
            "id": r[0],
            "name": r[1],
            "dim": r[2],
            "feature": json.loads(r[3]),
            "instance": r[4],
            "created": str(r[5]),
        }

    def delete(self, face_id: int) -> bool:
        with self._connect() as conn, conn.cursor() as cur:
            return cur.execute("DELETE FROM faces WHERE id=%s", (face_id,)) > 0
