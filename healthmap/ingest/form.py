"""Checks that run before any value is parsed: columns (duplicate, undeclared) and the
form of every cell (length first, characters, digits, ID numbers anywhere)."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from healthmap import ids
from healthmap.ingest.contract import CELL_BAD_CHARS, HEADER_ALIASES, KEY_BAD_CHARS, declared
from healthmap.ingest.problems import ID_LIKE, Problems

if TYPE_CHECKING:
    from healthmap.ingest.validate import ValidationContext

# columns a boundary-file reader adds to the areas frame (not part of the contract)
INTERNAL_COLUMNS = {"areas": ("label_lon", "label_lat")}


def header_checks(kind: str, df: pd.DataFrame, ctx: ValidationContext, problems: Problems,
                   warnings: Problems) -> pd.DataFrame:
    """Refuse duplicate and undeclared columns (or drop undeclared ones with a warning when
    the user chose to ignore them). Returns the frame with only declared columns."""
    spec = declared(kind)
    names = [c.name for c in spec]
    headers = df.attrs.get("headers") or list(df.columns)
    # a Chinese header means this kind's column (区划编码 is ``code`` in an areas file)
    own = {c.zh: c.name for c in spec if c.zh}
    cols = [own.get(str(h).strip(), c) for h, c in zip(headers, df.columns)]
    df = df.set_axis(cols, axis=1)
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if c in seen:
            problems.add(-1, c, f"{headers[seen[c]]} / {headers[i]}", "duplicate_column",
                         first=headers[seen[c]], second=headers[i])
        else:
            seen[c] = i
    allowed = set(names) | set(INTERNAL_COLUMNS.get(kind, ()))
    keep = []
    for i, c in enumerate(cols):
        if c in allowed:
            keep.append(i)
            continue
        if c == "" and not (df.iloc[:, i].astype(str) != "").any():
            continue  # an unnamed, empty column (a trailing comma)
        choices = names + [z for z, n in HEADER_ALIASES.items() if n in names]
        near = difflib.get_close_matches(str(headers[i]), choices, n=1, cutoff=0.6)
        if not near:
            near = difflib.get_close_matches(c, choices, n=1, cutoff=0.6)
        hint = HEADER_ALIASES.get(near[0], near[0]) if near else ""
        if ctx.ignore_unknown_columns:
            warnings.add(-1, str(headers[i]), "", "ignored_column")
        else:
            problems.add(-1, str(headers[i]), "",
                         "unknown_column_hint" if hint else "unknown_column",
                         name=str(headers[i]), hint=hint)
    if problems.codes() & {"duplicate_column", "unknown_column", "unknown_column_hint"}:
        return df
    out = df.iloc[:, keep].copy()
    out.attrs = {}
    return out


def form_checks(kind: str, df: pd.DataFrame, ctx: ValidationContext,
                problems: Problems) -> None:
    """Checks that run before any parsing: lengths, characters, digits, ID numbers.

    Each check runs once per distinct value of a column (most columns hold few), and the
    result is spread back to the rows."""
    spec = {c.name: c for c in declared(kind)}
    for name in df.columns:
        col = spec.get(name)
        typ = col.type if col else "text"
        limit = col.max_chars if col else ctx.limits.max_cell_chars
        values = df[name]  # Arrow strings factorized as they are (a streamed chunk)
        if _short_ascii(values, limit):  # a column of codes, numbers, dates, ids …
            if typ == "key":  # the only problem such values can have
                problems.add_mask(df, _matches(values.array._pa_array, _KEY_BAD_ASCII),
                                  name, "key_chars", df[name])
            continue
        if not isinstance(values.dtype, pd.StringDtype):
            values = values.astype(object)
        row_of, uniq = pd.factorize(values, use_na_sentinel=False)
        u = pd.Series(uniq, dtype=values.dtype).astype(str)
        for code, bad_u in _form_problems(u, typ, limit, name != "id_number"):
            rows = bad_u[row_of]
            problems.add_mask(df, rows, name, code, df[name],
                              **({"limit": limit} if code == "too_long" else {}))


def _short_ascii(values: pd.Series, limit: int) -> bool:
    """Whether a column of Arrow strings holds only printable ASCII values shorter than
    an ID number and within ``limit``: none is too long, none holds a control character,
    another digit or an ID number (:func:`_form_problems` would find only a key's bad
    characters), so it is checked whole instead of per distinct value."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return False
    arr = values.array._pa_array
    if not len(arr) or (pc.max(pc.binary_length(arr)).as_py() or 0) > min(17, limit):
        return not len(arr)
    return pc.all(pc.ascii_is_printable(arr)).as_py() is not False  # "" is printable


def _form_problems(u: pd.Series, typ: str, limit: int, look_for_ids: bool):
    """(code, mask over the distinct values ``u``) of every form problem found."""
    lengths = u.str.len().to_numpy()
    long = lengths > limit
    yield "too_long", long
    u = u.where(~long, "")
    # only values that are not plain printable ASCII can hold the characters below;
    # Arrow's compute functions test a million values in milliseconds (a Python regular
    # expression per value took seconds per column of ids)
    arr = pa.array(u)  # the column's own Arrow strings, not copied through Python
    odd = ~_matches(arr, r"^[\x20-\x7e]*$")
    if typ == "key":
        bad = _matches(arr, _KEY_BAD_ASCII)  # printable ASCII: only these can be bad
        if odd.any():
            bad[odd] = u[odd].str.contains(KEY_BAD_CHARS, regex=True).to_numpy(dtype=bool)
        yield "key_chars", bad
    elif odd.any():
        bad = odd & u.str.contains(CELL_BAD_CHARS, regex=True).to_numpy(dtype=bool)
        yield "control_chars", bad
    else:
        bad = np.zeros(len(u), dtype=bool)
    if odd.any() and typ not in ("text", "area"):
        digits = odd & ~bad
        digits[digits] = [_nonascii_digit(v) for v in u[digits]]
        yield "nonascii_digit", digits
    if look_for_ids:
        cand = (lengths >= 18) & ~long
        if cand.any():
            cand[cand] = u[cand].str.contains(r"[0-9]{17}", regex=True).to_numpy(dtype=bool)
            hit = np.zeros(len(u), dtype=bool)
            for i in np.flatnonzero(cand):
                hit[i] = any(ids.check_digit(m[:17]) == m[17].upper()
                             for m in ID_LIKE.findall(u.iloc[i]))
            yield "id_number_elsewhere", hit


#: the printable ASCII characters :data:`KEY_BAD_CHARS` refuses, as a character class
_KEY_BAD_ASCII = "[" + "".join("\\" + c for c in map(chr, range(0x20, 0x7f))
                               if re.fullmatch(KEY_BAD_CHARS, c)) + "]"


def _matches(arr, pattern: str) -> np.ndarray:
    """Which of the Arrow strings ``arr`` contain a match of ``pattern`` (RE2 syntax)."""
    return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False).astype(bool)


def _nonascii_digit(value: str) -> bool:
    """A digit other than 0-9: full-width ５, superscript ², Arabic-Indic ٥ …"""
    return any(not c.isascii() and c.isdigit() for c in value)
