"""Read CSV / Excel files into all-text frames with contract column names."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd

from healthmap.ingest.contract import HEADER_ALIASES


class FileReadError(ValueError):
    pass


def file_bytes(source) -> bytes:
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    if isinstance(source, bytes):
        return source
    data = source.read()
    return data if isinstance(data, bytes) else data.encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_header(name: str) -> str:
    key = str(name).strip().lstrip("\ufeff")
    if key in HEADER_ALIASES:
        return HEADER_ALIASES[key]
    low = key.lower().replace(" ", "_")
    return HEADER_ALIASES.get(low, low)


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """Parse ``data`` as CSV (UTF-8, UTF-8-BOM or GBK) or Excel, every cell as text.

    Empty cells become ``""``. Row ``i`` of the frame is line ``i + 2`` of the file (the
    header is line 1), which is how problems are reported.
    """
    name = filename.lower()
    try:
        if name.endswith((".xlsx", ".xlsm", ".xls")):
            df = pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False)
        else:
            text = None
            for enc in ("utf-8-sig", "gb18030"):
                try:
                    text = data.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
            if text is None:
                raise FileReadError("encoding is neither UTF-8 nor GBK")
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                             skipinitialspace=True)
    except FileReadError:
        raise
    except Exception as exc:  # parser errors carry no personal data, only positions
        raise FileReadError(str(exc).splitlines()[0][:200]) from exc
    df.columns = [normalize_header(c) for c in df.columns]
    df = df.loc[:, ~pd.Index(df.columns).duplicated()]
    df = df.fillna("").astype(object)
    for c in df.columns:
        df[c] = df[c].astype(str).str.strip()
        # Excel dates come back as "2024-03-15 00:00:00"
        df[c] = df[c].str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", r"\1", regex=True)
    df = df.reset_index(drop=True)
    return df
