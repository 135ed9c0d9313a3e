"""``python -m healthmap audit verify``: check the audit log's hash chain."""

from __future__ import annotations


def cmd_audit(args) -> int:
    from healthmap import audit
    from healthmap.cli import CliError
    from healthmap.db import make_engine

    engine = make_engine(args.db)
    v = audit.verify(engine)
    if v.broken_id is not None:
        raise CliError(f"audit log tampered: row {v.broken_id} does not fit the chain "
                       f"({v.reason}); {v.rows:,} rows checked up to it")
    if not v.ok:
        raise CliError(f"audit log tampered: {v.reason}")
    note = (f"; {v.unchained:,} older rows written before the chain existed carry no proof"
            if v.unchained else "")
    print(f"audit log intact: {v.rows:,} rows, chain and seal verified{note}")
    return 0


def register(command) -> None:
    s = command("audit", help="audit log: verify its hash chain (names the first broken row)")
    s.add_argument("action", choices=["verify"])
    s.set_defaults(func=cmd_audit)
