"""The repeat check's pre-check of a streamed episodes import
(:func:`healthmap.ingest.stream._repeats`): each chunk's folded record ids are hashed
where the chunk is validated, and the hashes of all chunks, sorted together, show in
half a second (10 M ids) whether any two ids can be alike; only then are the ids
compared (DuckDB grouping 10 M texts: about 5 s)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def hash_file(keys: Path) -> Path:
    """Where the sorted hashes of a keys' file (:func:`folded_hashes`) are staged."""
    return keys.with_suffix(".hash.npy")


def folded_hashes(table) -> np.ndarray:
    """The 64-bit hashes (DuckDB's ``hash``: the same in every process) of the folded
    record ids of a keys' table, without the empty ones, sorted: equal folded ids have
    equal hashes, so hashes that are all distinct prove that no id repeats
    (:func:`healthmap.ingest.stream._repeats`)."""
    with _hasher().cursor() as db:  # a cursor each call: safe beside other threads
        db.register("_keys", table)
        (h,) = db.execute("SELECT hash(folded) AS h FROM _keys WHERE key <> ''"
                          ).fetchnumpy().values()
    return np.sort(np.asarray(h, dtype=np.uint64))


@functools.lru_cache(maxsize=1)
def _hasher():
    """This process's DuckDB database for :func:`folded_hashes` (a worker hashes every
    chunk; a new connection costs about 40 ms, a cursor on it nothing)."""
    import duckdb

    return duckdb.connect(config={"threads": 1})


def hash_repeats(keys: list[Path]) -> bool:
    """Whether two of the files' folded record ids have the same hash (staged beside each
    keys' file, sorted): if not, no id repeats. A repeat, or (rarely) two ids of the same
    hash, and :func:`healthmap.ingest.stream._repeats` compares the ids themselves."""
    hashes = np.concatenate([np.load(hash_file(k)) for k in keys])
    hashes.sort(kind="stable")  # sorted runs, merged
    return bool((hashes[1:] == hashes[:-1]).any())
