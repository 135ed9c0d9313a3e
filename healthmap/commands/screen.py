"""``python -m healthmap screen RULESET --input residents.csv``: score residents with a
rule set without storing anything (no database needed); ``screen --list`` lists the rule
sets and their versions.

The input has the residents columns of the data contract (domain.md §3; Chinese headers
accepted). Only ``resident_id`` and the columns the rule set cannot do without (birth date,
sex) are required; an absent risk-factor column counts as unknown for everybody. A value
that is present but unreadable (``sbp`` = ``abc``) is refused with its line, rather than
being taken for missing.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

OUTPUT = ["resident_id", "score", "tier", "eligible", "reasons"]


def _fail(message: str):
    from healthmap.cli import CliError

    return CliError(message)


def _ruleset(name: str):
    from healthmap.screening.rules import RuleSetError, load_ruleset

    try:
        return load_ruleset(name)
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    except RuleSetError as exc:
        raise _fail(f"rule set file is invalid: {exc}") from None


def check_values(df, ruleset) -> list[str]:
    """Unreadable values in the columns the rule set reads, as ``line N column: value``
    texts (file lines; 1 = header). Empty cells are missing values, not problems."""
    import numpy as np
    import pandas as pd

    from healthmap import codes
    from healthmap.ingest.validate import parse_dates
    from healthmap.screening.loader import _declared_columns

    types = _declared_columns()
    problems = []
    for col in ruleset.raw_columns():
        if col not in df.columns:
            continue
        raw = df[col].astype(str).str.strip()
        present = (raw != "").to_numpy()
        typ = types.get(col, "text")
        if typ in ("number", "int"):
            bad = present & pd.to_numeric(raw.where(present, "0"), errors="coerce").isna().to_numpy()
            what = "not a number"
        elif typ == "bool":
            bad = present & codes.normalize_bool(raw).isna().to_numpy()
            what = "not true/false"
        elif typ == "sex":
            unknown = raw.str.upper().isin(["U", "未知"]).to_numpy()
            bad = present & ~unknown & codes.normalize_sex(raw).isna().to_numpy()
            what = "not M/F"
        elif typ == "date":
            bad = present & parse_dates(raw).isna().to_numpy()
            what = "not a date"
        else:
            continue
        for i in np.flatnonzero(bad):
            problems.append(f"line {i + 2} {col}: {df[col].iloc[i]!r} is {what}")
    return problems


def read_input(path: Path, ruleset):
    """The residents file as an all-text frame; one-line refusals for what cannot be
    assessed at all."""
    from healthmap.ingest.readers import FileReadError, read_table
    from healthmap.screening.rules import required_columns

    if not path.exists():
        raise _fail(f"input file not found: {path}")
    try:
        df = read_table(path.read_bytes(), path.name)
    except FileReadError as exc:
        raise _fail(f"{path.name} is not readable as CSV or Excel: {exc}") from None
    need = required_columns(ruleset)
    absent = [c for c in need if c not in df.columns]
    if absent:
        have = ", ".join(map(str, df.columns)) or "none"
        raise _fail(f"{path.name} lacks column(s) {', '.join(absent)} needed by rule set "
                    f"{ruleset.id} (columns found: {have})")
    blank_ids = (df["resident_id"].astype(str).str.strip() == "")
    if blank_ids.any():
        raise _fail(f"{path.name}: resident_id is empty on line(s) "
                    f"{', '.join(str(i + 2) for i in blank_ids[blank_ids].index[:10])}")
    problems = check_values(df, ruleset)
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise _fail(f"{len(problems)} unreadable value(s) in {path.name}: "
                    + "; ".join(problems[:5]) + more)
    return df


def cmd_screen(args) -> int:
    from healthmap.screening.rules import assess, load_all

    if args.list:
        return _list(load_all, args.format)
    if not args.ruleset:
        raise _fail("screen needs a RULESET (see `python -m healthmap screen --list`)")
    if not args.input:
        raise _fail("screen needs --input FILE (CSV or Excel with the residents columns)")
    ruleset = _ruleset(args.ruleset)
    as_of = dt.date.today()
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise _fail(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)") from None
    df = read_input(Path(args.input), ruleset)
    out = assess(df, ruleset, as_of, lang=args.lang)[OUTPUT]
    if args.format == "json":
        records = [{"resident_id": r.resident_id,
                    "score": None if r.score is None else int(r.score),
                    "tier": r.tier, "eligible": r.eligible, "reasons": r.reasons}
                   for r in out.astype(object).where(out.notna(), None).itertuples()]
        print(json.dumps(records, ensure_ascii=False, indent=1))
    else:
        text = out.assign(
            score=out["score"].astype(object).where(out["score"].notna(), ""),
            eligible=out["eligible"].map({True: "true", False: "false"}).fillna(""))
        # through the export writer's cell guard: an imported id beginning with "=" must
        # not become a formula when the output is opened in a spreadsheet
        from healthmap.exports import safe_frame

        safe_frame(text).to_csv(sys.stdout, index=False, lineterminator="\n")
    return 0


def _list(load_all, fmt: str) -> int:
    from healthmap.screening.rules import RuleSetError

    try:
        sets = load_all()
    except RuleSetError as exc:
        raise _fail(f"rule set file is invalid: {exc}") from None
    rows = [{"ruleset": rs.id, "version": rs.version, "target": rs.target,
             "name_zh": rs.name["zh"], "name_en": rs.name["en"],
             "rules": ", ".join(f"{rs.id}.{r.id} ({r.kind})" for r in rs.rules),
             "fingerprint": rs.fingerprint} for rs in sets.values()]
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        print(f"{r['ruleset']:<11} version {r['version']:<8} {r['name_en']} / {r['name_zh']}"
              f" — rules: {r['rules']}")
    return 0


def register(command) -> None:
    s = command("screen", help="score residents with a screening rule set (nothing stored; "
                                "no database needed)")
    s.add_argument("ruleset", nargs="?", help="rule set id (colorectal, lung, gastric, "
                                              "diabetes) or one rule of it (colorectal.apcs)")
    s.add_argument("--input", help="residents file (CSV or Excel, contract columns)")
    s.add_argument("--as-of", help="date on which ages are computed (YYYY-MM-DD; default "
                                   "today)")
    s.add_argument("--format", choices=["csv", "json"], default="csv")
    s.add_argument("--lang", choices=["en", "zh"], default="en", help="language of reasons")
    s.add_argument("--list", action="store_true", help="list the rule sets and versions")
    s.set_defaults(func=cmd_screen)
