"""``callcenter users``: add and list the accounts of the console.

    callcenter users add NAME --role agent --extension 1001 --skills support:4,lang_es:5
    callcenter users add NAME --role supervisor --password-stdin < secret.txt
    callcenter users list

The store comes from ``--db URL``, else from the settings (``--config FILE`` and the
``CALLCENTER_`` environment). Without ``--password-stdin`` the password is asked for
twice on the terminal. Passwords are never echoed or printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from crm_store import AgentExists, Store, make_engine
from crm_store.models import AGENT_ROLES

MIN_PASSWORD = 8


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter users", description="console accounts")
    parser.add_argument("--config", help="settings file (TOML)")
    parser.add_argument("--db", help="store URL (overrides the settings)")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=AGENT_ROLES, default="agent")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--extension", default="")
    add.add_argument("--interface", default="", help="e.g. PJSIP/1001")
    add.add_argument("--skills", default="", help="e.g. support:4,lang_es:5")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    sub.add_parser("list", help="list the accounts")
    return parser


def _store(args: argparse.Namespace) -> Store:
    url = args.db
    if not url:
        from callcenter.settings import load_settings

        settings = load_settings(args.config)
        url = settings.store_url()
    store = Store(make_engine(url))
    store.create_schema()
    return store


def _password(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main_users(argv: list[str] | None = None, *, stdin: TextIO | None = None,
               stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``callcenter users ...``; the exit status (0 done, 1 refused, 2 bad use)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        store = _store(args)
    except Exception as e:
        print(f"callcenter users: cannot open the store: {e}", file=stderr)
        return 1
    try:
        if args.action == "list":
            print(f"{'id':>4}  {'username':<16} {'role':<10} {'ext':<8} {'name':<24} skills",
                  file=stdout)
            for a in store.agents():
                print(f"{a.id:>4}  {a.username:<16} {a.role:<10} {a.extension:<8} "
                      f"{a.display_name:<24} {a.skills}", file=stdout)
            return 0
        try:
            password = _password(args, stdin)
            if len(password) < MIN_PASSWORD:
                raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
            record = store.create_agent(
                username=args.username, password=password, display_name=args.name,
                role=args.role, extension=args.extension, interface=args.interface,
                skills=args.skills,
            )
        except AgentExists as e:
            print(f"callcenter users: {e}", file=stderr)
            return 1
        except ValueError as e:
            print(f"callcenter users: {e}", file=stderr)
            return 1
        print(f"added {record.username} ({record.role}) with id {record.id}", file=stdout)
        return 0
    finally:
        store.engine.dispose()
