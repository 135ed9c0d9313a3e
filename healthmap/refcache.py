"""Reference rows the indicator path reads from the operational database (the areas of a
level, the population rows, the episode store's join tables), kept per engine for as long
as the data version holds.

Every write that changes what pages show advances the data version
(:func:`healthmap.queries.data_version`: an import adds an import-log row, other writes
call :func:`healthmap.db.bump_version`), so rows read under one version are the database's
rows while it is current: each :meth:`ReferenceCache.snapshot` reads the version (one small
query) and the rows are read again after any change. The cache belongs to the engine it
reads for, as the episode store's DuckDB database does (:func:`healthmap.store.query.reader`):
no module-level state, gone with its engine, and bounded: one version's entries at a time,
one per name, at most :attr:`ReferenceCache.max_entries` (small tables: areas, population
rows and the population of a selection).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import pandas as pd
from sqlalchemy import Engine

_CACHE = "healthmap_reference_cache"  # the engine's attribute holding its ReferenceCache


class ReferenceCache:
    """Loaded reference rows of one engine under the data version they were read at.
    Thread-safe. Get an engine's own one with :func:`cache`.

    Examples
    --------
    >>> c = ReferenceCache()
    >>> loads = []
    >>> def load():
    ...     loads.append(1)
    ...     return len(loads)
    >>> c.get(7, "n", load), c.get(7, "n", load), len(loads)  # read once under version 7
    (1, 1, 1)
    >>> c.get(8, "n", load), len(loads)  # a new version: read again, the old entry dropped
    (2, 2)
    >>> small = ReferenceCache(max_entries=2)
    >>> [small.get(1, k, lambda: k) for k in "abc"], list(small._items)  # a dropped
    (['a', 'b', 'c'], ['b', 'c'])
    """

    __slots__ = ("_lock", "_version", "_items", "max_entries", "__weakref__")

    def __init__(self, max_entries: int = 64) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._items: dict[Any, Any] = {}
        self.max_entries = max_entries  # the oldest entry goes first beyond this

    def get(self, version: int, name: Any, load: Callable[[], Any]) -> Any:
        """The entry ``name`` read under ``version``: the cached one, else ``load()``
        (kept when ``version`` is still the newest seen; every entry of another version
        is dropped)."""
        with self._lock:
            if self._version == version and name in self._items:
                return self._items[name]
        value = load()  # outside the lock: a slow read does not hold up other threads
        with self._lock:
            if self._version != version:
                self._version, self._items = version, {}
            self._items.pop(name, None)
            while len(self._items) >= self.max_entries:
                del self._items[next(iter(self._items))]
            self._items[name] = value
        return value


def cache(engine: Engine) -> ReferenceCache:
    """The :class:`ReferenceCache` that belongs to ``engine`` (made on first use)."""
    own = vars(engine)
    found = own.get(_CACHE)
    return found if found is not None else own.setdefault(_CACHE, ReferenceCache())


class Snapshot:
    """The engine's reference rows at one data version (read once, at :func:`snapshot`);
    every value handed out is the caller's own (a shallow copy: pandas' copy-on-write keeps
    the cached frame as it was whatever the caller changes)."""

    __slots__ = ("engine", "version", "_cache")

    def __init__(self, engine: Engine, version: int) -> None:
        self.engine, self.version, self._cache = engine, version, cache(engine)

    def get(self, name: Any, load: Callable[[], Any]) -> Any:
        """Entry ``name`` (read by ``load`` when not held at this version). The value is
        shared: only for values nobody changes (tuples, strings)."""
        return self._cache.get(self.version, name, load)

    def area_set(self, level: str = "township"):
        """:func:`healthmap.queries.area_set` of ``level``."""
        from healthmap import queries

        held = self.get(("area_set", level), lambda: queries.area_set(self.engine, level))
        return queries.AreaSet(held.areas.copy(deep=False), dict(held.up))

    def frame(self, name: Any, load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A frame made from the reference rows only (``load``), kept under ``name``
        (which must say everything the frame depends on besides the data version)."""
        return self.get(name, load).copy(deep=False)

    def population_rows(self) -> pd.DataFrame:
        """:func:`healthmap.queries.population_rows`."""
        from healthmap import queries

        return self.frame("population_rows", lambda: queries.population_rows(self.engine))


def snapshot(engine: Engine) -> Snapshot:
    """The reference rows of ``engine`` at its current data version.

    Examples
    --------
    >>> import tempfile
    >>> from healthmap.db import make_engine
    >>> from healthmap.bootstrap import init_database
    >>> engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/t.db"); _ = init_database(engine)
    >>> s = snapshot(engine)
    >>> s.area_set("county").areas["level"].tolist(), len(s.population_rows())
    (['county'], 0)
    >>> s.area_set("county") is s.area_set("county")  # each caller gets its own copy
    False
    >>> engine.dispose()
    """
    from healthmap.queries import data_version

    return Snapshot(engine, data_version(engine))
