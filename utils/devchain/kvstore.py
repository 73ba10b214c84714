"""The embedded chain's key-value store on disk: SQLite with a bounded in-memory cache.

py-evm keeps every trie node, header, body and receipt in one key-value store; the dev chain
gives it a ``MemoryDB`` over a plain dict, so the chain's live state (every storage slot a contract
ever wrote, e.g. every IoT record of MVPIoTProcessor) lived in RAM and the process grew with
it even with old blocks pruned. :class:`DiskKV` takes the dict's place (``MemoryDB.kv_store``):

* reads look in this block's pending writes, then an LRU cache bounded in bytes, then SQLite;
* writes and deletes are buffered and written in one transaction per sealed block
  (:meth:`DiskStore.flush`); written entries enter the cache (recent nodes are the hot ones).

:class:`DiskStore` owns the SQLite database (one per chain process) and its tables: ``kv``
(py-evm's store) and ``refs`` (the pruner's reference counts of trie nodes, which grow with the
state too). By default the database is SQLite's private temporary database (an empty file
name): pages beyond its page cache spill to a file (in ``$SQLITE_TMPDIR``, ``$TMPDIR`` or
``/var/tmp``) that SQLite unlinks as soon as it opens it, so nothing is left behind even when
the chain is killed with SIGKILL. No WAL and no fsync: the store is scratch space
rebuilt at every start. SQLite's own page cache is bounded (``cache_size``) and memory-mapped
I/O stays off, so file pages do not count in the RSS.

A chain with a data directory (``--data-dir``, :mod:`utils.devchain.datadir`) keeps the
store in ``DIR/chain.sqlite`` instead (``durable=True``): WAL journal, ``synchronous=FULL``
(each sealed block's transaction is fsync'd before the next block opens), so a SIGKILL or a
power cut loses at most the open block. Two more tables make the chain whole again when it
re-opens: ``window`` (the pruner's retained blocks, :mod:`utils.devchain.pruning`) and
``meta`` (the node's own state, e.g. the L1 prices by block: :mod:`utils.devchain.durable`).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

V = TypeVar("V", bytes, int)

# Python objects per cached entry beyond the key and value payloads: two bytes/int headers
# (33 + 33 bytes) and an OrderedDict entry with its linked-list node (about 100 bytes).
ENTRY_OVERHEAD = 170
DEFAULT_CACHE_MB = 16
SQLITE_PAGE_CACHE_KB = 4096


def _size(key: bytes, value: bytes | int) -> int:
    return len(key) + (len(value) if isinstance(value, bytes) else 8) + ENTRY_OVERHEAD


class DiskKV(MutableMapping[bytes, V], Generic[V]):
    """One SQLite table as a mapping, with an LRU read cache and a per-block write buffer."""

    def __init__(self, db: sqlite3.Connection, table: str, cache_bytes: int) -> None:
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k BLOB PRIMARY KEY, v) WITHOUT ROWID")
        self._db = db
        self._select = f"SELECT v FROM {table} WHERE k = ?"
        self._put = f"INSERT OR REPLACE INTO {table} (k, v) VALUES (?, ?)"
        self._delete = f"DELETE FROM {table} WHERE k = ?"
        self._count = f"SELECT count(*), coalesce(sum(length(k) + length(v)), 0) FROM {table}"
        self._keys = f"SELECT k FROM {table}"
        self.cache_bytes = cache_bytes
        self.cached_bytes = 0
        self._cache: OrderedDict[bytes, V] = OrderedDict()
        self._dirty: dict[bytes, V | None] = {}
        self.hits = self.misses = 0

    def __getitem__(self, key: bytes) -> V:
        dirty = self._dirty
        if key in dirty:
            value = dirty[key]
            if value is None:
                raise KeyError(key)
            return value
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        row = self._db.execute(self._select, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        found: V = row[0]
        self._remember(key, found)
        return found

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __setitem__(self, key: bytes, value: V) -> None:
        self._dirty[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._dirty[key] = None

    def __len__(self) -> int:
        self.write_pending()
        count: int = self._db.execute(self._count).fetchone()[0]
        return count

    def __iter__(self) -> Iterator[bytes]:
        self.write_pending()
        return iter([row[0] for row in self._db.execute(self._keys)])

    @property
    def cached_entries(self) -> int:
        return len(self._cache)

    def stored_bytes(self) -> int:
        """Bytes of keys and values on disk (a table scan)."""
        self.write_pending()
        total: int = self._db.execute(self._count).fetchone()[1]
        return total

    def write_pending(self) -> int:
        """Write the buffered changes into the open transaction; return how many."""
        dirty = self._dirty
        if not dirty:
            return 0
        puts = [(k, v) for k, v in dirty.items() if v is not None]
        gone = [(k,) for k, v in dirty.items() if v is None]
        if puts:
            self._db.executemany(self._put, puts)
        if gone:
            self._db.executemany(self._delete, gone)
        cache = self._cache
        for (key,) in gone:
            old = cache.pop(key, None)
            if old is not None:
                self.cached_bytes -= _size(key, old)
        for key, value in puts:
            self._remember(key, value)
        changed = len(dirty)
        dirty.clear()
        return changed

    def _remember(self, key: bytes, value: V) -> None:
        cache = self._cache
        old = cache.pop(key, None)
        if old is not None:
            self.cached_bytes -= _size(key, old)
        cache[key] = value
        self.cached_bytes += _size(key, value)
        while self.cached_bytes > self.cache_bytes and cache:
            evicted_key, evicted = cache.popitem(last=False)
            self.cached_bytes -= _size(evicted_key, evicted)


class DiskStore:
    """The chain process's SQLite database: py-evm's store (``kv``) and the pruner's counts."""

    def __init__(
        self, cache_mb: float = DEFAULT_CACHE_MB, path: str = "", *, durable: bool = False
    ) -> None:
        if cache_mb <= 0:
            raise ValueError("the state cache must be > 0 MB (0 means: no disk store)")
        if durable and not path:
            raise ValueError("a durable store needs a file path")
        self.path = path
        self.durable = durable
        self.db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
        journal = ("journal_mode=WAL", "synchronous=FULL") if durable else (
            "journal_mode=OFF", "synchronous=OFF")
        for pragma in (*journal, "mmap_size=0", f"cache_size=-{SQLITE_PAGE_CACHE_KB}",
                       "temp_store=FILE"):  # fmt: skip
            self.db.execute(f"PRAGMA {pragma}")
        budget = int(cache_mb * 1024 * 1024)
        self.kv: DiskKV[bytes] = DiskKV(self.db, "kv", budget * 3 // 4)
        self.refs: DiskKV[int] = DiskKV(self.db, "refs", budget // 4)
        self.window: DiskKV[bytes] = DiskKV(self.db, "window", 0)
        self.meta: DiskKV[bytes] = DiskKV(self.db, "meta", 0)
        self.db.commit()
        self.flushes = 0
        #: called by :meth:`flush` first: state kept beside py-evm's writes them into ``meta``
        self.before_flush: list[Callable[[], None]] = []

    def is_empty(self) -> bool:
        """No py-evm entry yet (a new store, not a re-opened one)."""
        return self.db.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is None

    def adopt(self, kv_store: dict[bytes, bytes]) -> DiskKV[bytes]:
        """Take over an in-memory store's entries (the genesis py-evm wrote); return ``kv``."""
        for key, value in kv_store.items():
            self.kv[key] = value
        kv_store.clear()
        self.flush()
        return self.kv

    def flush(self) -> None:
        """Write this block's changes of every table in one transaction."""
        for hook in self.before_flush:
            hook()
        tables = (self.kv, self.refs, self.window, self.meta)
        if sum(table.write_pending() for table in tables):
            self.db.commit()
            self.flushes += 1

    def stats(self) -> dict[str, int]:
        return {
            "cacheBytes": self.kv.cached_bytes + self.refs.cached_bytes,
            "cacheHits": self.kv.hits + self.refs.hits,
            "cacheMisses": self.kv.misses + self.refs.misses,
        }

    def close(self) -> None:
        self.flush()
        self.db.close()
