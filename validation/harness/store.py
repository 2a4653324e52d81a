"""The results store: one SQLite file, units keyed by their hash, committed as they finish.

A unit's payload is a dict of numpy arrays stored with ``np.savez`` (no pickle), beside the JSON of
what its key hashes (:attr:`fedtheory.validation.harness.units.Unit.spec`), the seconds it took and the peak
resident memory of its process while it ran (:class:`~fedtheory.validation.harness.executors.UnitCost`). Claim records
(:class:`~fedtheory.validation.harness.records.ClaimResult`) are stored by claim id, and so is each claim's latest
search for a counterexample (:class:`~fedtheory.validation.harness.falsify.Falsification`). Every write is its own
transaction, so Ctrl-C or ``kill -9`` leaves exactly the units that finished.

Only one process writes a store at a time: a writer holds an exclusive lock on ``<store>.lock``
(released by the operating system when the process ends, however it ends), and a second writer is
refused with a message that names the file. A file that is not a fedtheory store is refused and
never overwritten.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from fedtheory.validation.harness.falsify import Falsification
from fedtheory.validation.harness.records import ClaimResult

__all__ = ["ResultsStore", "StoreError", "FORMAT", "SCHEMA"]

FORMAT = "fedtheory-results"
SCHEMA = 2  # 1: before units were declared (keys hashed the claim and the budget); not readable

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    payload BLOB NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    peak_rss INTEGER
);
CREATE TABLE IF NOT EXISTS results (claim_id TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS falsifications (claim_id TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL);
"""
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(ValueError):
    """The store cannot be used: not a fedtheory store, another schema, or another writer holds it."""


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class ResultsStore:
    """An embedded SQLite results store at ``path``; ``write=True`` takes the writer's lock."""

    def __init__(self, path: str | Path, *, write: bool = True):
        self.path = Path(path)
        self._lock = None
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a fedtheory results store; pass the output folder as --out")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            with open(self.path, "rb") as fh:
                if fh.read(16) != _SQLITE_MAGIC:
                    raise StoreError(f"{self.path} is not a fedtheory results store (not an SQLite file); "
                                     "move it away or pass another --out. It was left untouched.")
        elif not write:
            raise StoreError(f"no results store at {self.path}; run `fedtheory validate` first")
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        try:
            self._con = sqlite3.connect(self.path, timeout=30)
            self._check_or_init(fresh, write)
        except sqlite3.DatabaseError as exc:
            self._release()
            raise StoreError(f"{self.path} is not a readable fedtheory results store ({exc}); move it away or pass "
                             "another --out. It was left untouched.") from None
        except BaseException:
            self._release()
            raise

    # locking ---------------------------------------------------------------
    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fh = open(lock_path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise StoreError(f"{self.path} is being written by another `fedtheory validate` ({holder}); wait for it "
                             "to finish or pass another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        self._lock = fh

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _check_or_init(self, fresh: bool, write: bool) -> None:
        tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if fresh or not tables:
            if not write:  # pragma: no cover - guarded in __init__
                raise StoreError(f"no results store at {self.path}")
            with self._con:
                self._con.executescript(_TABLES)
                self._con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                      [("format", FORMAT), ("schema", str(SCHEMA))])
            return
        meta = dict(self._con.execute("SELECT name, value FROM meta").fetchall()) if "meta" in tables else {}
        if meta.get("format") != FORMAT:
            if {"units", "results"} <= tables and "meta" not in tables:
                raise StoreError(f"{self.path} was written by an older fedtheory (before declared units); its units "
                                 "cannot be reused: delete it or pass another --out")
            raise StoreError(f"{self.path} is an SQLite file but not a fedtheory results store; move it away or pass "
                             "another --out. It was left untouched.")
        if meta.get("schema") != str(SCHEMA):
            raise StoreError(f"{self.path} has store schema {meta.get('schema')}, this fedtheory reads {SCHEMA}; "
                             "delete it or pass another --out")
        columns = {r[1] for r in self._con.execute("PRAGMA table_info(units)")}
        if "peak_rss" not in columns and write:  # stores written before memory was recorded: unknown (NULL)
            with self._con:
                self._con.execute("ALTER TABLE units ADD COLUMN peak_rss INTEGER")
        if "falsifications" not in tables and write:  # stores written before `fedtheory falsify`
            with self._con:
                self._con.executescript(_TABLES)

    def close(self) -> None:
        self._con.close()
        self._release()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # units -----------------------------------------------------------------
    def keys(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT key FROM units")}

    def has(self, key: str) -> bool:
        return self._con.execute("SELECT 1 FROM units WHERE key=?", (key,)).fetchone() is not None

    def get(self, key: str) -> dict[str, np.ndarray]:
        row = self._con.execute("SELECT payload FROM units WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"unit {key} is not in {self.path}")
        return _unpack(row[0])

    def seconds(self, key: str) -> float | None:
        cost = self.cost(key)
        return None if cost is None else cost[0]

    def cost(self, key: str) -> tuple[float, int | None] | None:
        """(seconds, peak RSS in bytes or None) of a stored unit; None if it is not stored."""
        try:
            row = self._con.execute("SELECT seconds, peak_rss FROM units WHERE key=?", (key,)).fetchone()
        except sqlite3.OperationalError:  # a read-only open of a store from before memory was recorded
            row = self._con.execute("SELECT seconds, NULL FROM units WHERE key=?", (key,)).fetchone()
        return None if row is None else (float(row[0]), None if row[1] is None else int(row[1]))

    def put(self, key: str, spec: dict, arrays: dict[str, np.ndarray], seconds: float,
            peak_rss: int | None = None) -> None:
        with self._con:  # commits, or rolls back on error
            self._con.execute("INSERT OR REPLACE INTO units (key, spec, payload, seconds, created, peak_rss) "
                              "VALUES (?, ?, ?, ?, ?, ?)",
                              (key, json.dumps(spec, sort_keys=True), _pack(arrays), float(seconds), time.time(),
                               None if peak_rss is None else int(peak_rss)))

    def count_units(self) -> int:
        return self._con.execute("SELECT COUNT(*) FROM units").fetchone()[0]

    # results ---------------------------------------------------------------
    def put_result(self, result: ClaimResult) -> None:
        with self._con:
            self._con.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?)",
                              (result.claim_id, result.to_json(), result.created))

    def results(self) -> list[ClaimResult]:
        rows = self._con.execute("SELECT record FROM results ORDER BY claim_id").fetchall()
        return [ClaimResult.from_json(r[0]) for r in rows]

    # searches for counterexamples (`fedtheory falsify`) ---------------------
    def put_falsification(self, claim_id: str, record: Falsification) -> None:
        with self._con:
            self._con.execute("INSERT OR REPLACE INTO falsifications VALUES (?, ?, ?)",
                              (claim_id, record.to_json(), record.created))

    def falsifications(self) -> dict[str, Falsification]:
        """The latest search of each claim, by claim id (none for a store from before `fedtheory falsify`)."""
        try:
            rows = self._con.execute("SELECT claim_id, record FROM falsifications ORDER BY claim_id").fetchall()
        except sqlite3.OperationalError:  # a read-only open of an older store
            return {}
        return {k: Falsification.from_json(r) for k, r in rows}
