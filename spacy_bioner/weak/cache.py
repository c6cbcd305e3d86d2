"""An on-disk cache of fetched records, keyed by (kind, PMID), so an interrupted fetch resumes.

Storage is one SQLite file (stdlib ``sqlite3``) rather than one file per PMID:

- a weak-labelling run asks for tens of thousands of PMIDs; one file keeps the folder small and
  a lookup of a whole batch is a single query instead of thousands of ``stat``/``open`` calls;
- every batch is written in one transaction, so a run killed mid-write leaves either the whole
  batch or none of it, never a half-written record that a later run would trust;
- several clients (PubTator3 annotations, PubMed abstracts and MeSH) share one file under
  different ``kind`` values, and the file can be inspected with any SQLite tool.

Payloads are JSON text; failures are never cached, so a later run asks for them again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Sequence, Union

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    pmid TEXT NOT NULL,
    payload TEXT NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (kind, pmid)
)
"""
_QUERY_CHUNK = 500  # stays below SQLite's limit on bound parameters


class PmidCache:
    """A thread-safe SQLite store of JSON payloads keyed by ``(kind, pmid)``."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
            with self._conn:
                self._conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{self.path}: not a usable cache database ({err})") from err

    def get_many(self, kind: str, pmids: Iterable[str]) -> Dict[str, Any]:
        """Return ``{pmid: payload}`` for the PMIDs of ``kind`` that are cached."""
        wanted = list(pmids)
        found: Dict[str, Any] = {}
        with self._lock:
            for i in range(0, len(wanted), _QUERY_CHUNK):
                chunk = wanted[i : i + _QUERY_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT pmid, payload FROM records WHERE kind = ? AND pmid IN ({marks})",
                    [kind, *chunk],
                ).fetchall()
                for pmid, payload in rows:
                    try:
                        found[pmid] = json.loads(payload)
                    except json.JSONDecodeError as err:
                        raise ValueError(
                            f"{self.path}: cached {kind} record of PMID {pmid} is not JSON ({err})"
                        ) from err
        return found

    def put_many(self, kind: str, payloads: Mapping[str, Any]) -> None:
        """Store the payloads of ``kind`` in one transaction (all or none)."""
        now = time.time()
        rows = [(kind, pmid, json.dumps(value, ensure_ascii=False), now) for pmid, value in payloads.items()]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO records (kind, pmid, payload, fetched_at) VALUES (?, ?, ?, ?)",
                rows,
            )

    def count(self, kind: str) -> int:
        """The number of cached records of ``kind``."""
        with self._lock:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)).fetchone()
        return int(n)

    def delete(self, kind: str, pmids: Sequence[str]) -> None:
        """Forget the given PMIDs of ``kind`` (e.g. to force a fresh fetch)."""
        with self._lock, self._conn:
            self._conn.executemany(
                "DELETE FROM records WHERE kind = ? AND pmid = ?", [(kind, p) for p in pmids]
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "PmidCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
