"""Command-line entries: ``callcenter ivr check FILE…`` and ``callcenter ivr graph``.

``check`` exits 0 when every flow is valid, 1 listing every problem as
``file: node: reason``, 2 when the settings (for the queue names) are wrong.
"""

from __future__ import annotations

import argparse
import sys

from ivr.check import check_files
from ivr.graph import PictureError, write_picture
from ivr.load import load_flow


def _queues(args) -> list[str] | None:
    if args.queues is not None:
        return [q for q in args.queues.split(",") if q]
    from callcenter.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config)
    except SettingsError as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
    return [q.name for q in settings.queues]


def main_check(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="callcenter ivr check", description="Check IVR flow files (or directories).")
    parser.add_argument("files", nargs="+", help="flow files or directories of *.toml")
    parser.add_argument("--config", help="settings file: the queues that exist")
    parser.add_argument("--queues", help="comma-separated queue names (instead of --config)")
    args = parser.parse_args(argv)
    try:
        queues = _queues(args)
    except SystemExit as e:
        return int(e.code or 2)
    book, problems = check_files(args.files, queues)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    for flow in book.flows:
        numbers = ", ".join(flow.dnis) or "no number"
        print(f"{flow.source}: flow {flow.name!r} OK ({len(flow.nodes)} nodes; {numbers}"
              f"{'; default' if flow.default else ''})")
    return 0


def main_graph(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="callcenter ivr graph", description="Draw an IVR flow as SVG or PNG.")
    parser.add_argument("file", help="flow file")
    parser.add_argument("--out", required=True, help="picture to write: .svg or .png")
    args = parser.parse_args(argv)
    flow, problems = load_flow(args.file)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if flow is None:
        return 1
    try:
        out = write_picture(flow, args.out)
    except (PictureError, OSError) as e:
        print(f"{args.out}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
