"""``callcenter db``: the schema revision of the store, and upgrading it.

    callcenter db upgrade [--config FILE]   upgrade the store to the newest revision
    callcenter db current [--config FILE]   the revision the store is at
    callcenter db history                   every revision, oldest first

The store comes from ``--db URL``, else from the settings (``--config FILE`` and the
``CALLCENTER_`` environment). The server upgrades the store when it starts too; this
command does it beforehand (e.g. as a deployment step) or checks where a store is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy import URL, inspect, make_url

from crm_store import Store, make_engine
from crm_store.migrations import current_revision, head_revision, history


def _parser() -> argparse.ArgumentParser:
    # --config and --db are accepted before or after the action.
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--config", default=argparse.SUPPRESS, help="settings file (TOML)")
    store.add_argument("--db", default=argparse.SUPPRESS,
                       help="store URL (overrides the settings)")
    parser = argparse.ArgumentParser(prog="callcenter db", description="schema migrations",
                                     parents=[store])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("upgrade", parents=[store],
                   help="upgrade the store to the newest revision")
    sub.add_parser("current", parents=[store], help="print the revision the store is at")
    sub.add_parser("history", help="list every revision, oldest first")
    return parser


def _url(args: argparse.Namespace) -> str:
    if getattr(args, "db", None):
        return args.db
    from callcenter.settings import load_settings

    return load_settings(getattr(args, "config", None)).store_url()


def _missing_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return False
    return not database.startswith("file:") and not Path(database).expanduser().exists()


def _label(revision: str | None) -> str:
    if revision is None:
        return "none"
    return f"{revision} (head)" if revision == head_revision() else revision


def main_db(argv: list[str] | None = None, *, stdout: TextIO | None = None,
            stderr: TextIO | None = None) -> int:
    """Run ``callcenter db ...``; the exit status (0 done, 1 failed, 2 bad use)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.action == "history":
        head = head_revision()
        for revision, description in history():
            mark = " (head)" if revision == head else ""
            print(f"{revision}{mark}  {description}", file=stdout)
        return 0
    try:
        url = make_url(_url(args))
        if args.action == "current" and _missing_sqlite_file(url):
            print(f"none (no database at {url.database})", file=stdout)
            return 0
        engine = make_engine(url.render_as_string(hide_password=False))
    except Exception as e:
        print(f"callcenter db: cannot open the store: {e}", file=stderr)
        return 1
    try:
        with engine.connect() as conn:
            before = current_revision(conn)
            unversioned = before is None and bool(inspect(conn).get_table_names())
        if args.action == "current":
            note = " (tables without a revision: run `callcenter db upgrade`)"
            print(_label(before) + (note if unversioned else ""), file=stdout)
            return 0
        after = Store(engine).create_schema()
        if after == before:
            print(f"{_label(after)}: up to date", file=stdout)
        else:
            start = "unversioned tables" if unversioned else _label(before)
            print(f"upgraded from {start} to {_label(after)}", file=stdout)
        return 0
    except Exception as e:
        print(f"callcenter db: {args.action} failed: {e}", file=stderr)
        return 1
    finally:
        engine.dispose()
