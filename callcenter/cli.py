"""``callcenter`` command line: ``demo`` and ``serve``."""

from __future__ import annotations

import argparse
import sys


def _install_reactor():
    from twisted.internet import asyncioreactor

    try:
        asyncioreactor.install()
    except Exception:  # already installed (tests, embedding)
        pass
    from twisted.internet import reactor

    return reactor


def start_logging(level: str) -> None:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


# Commands that own their arguments: name -> (module, function, help).
DELEGATED = {
    "replay": ("callcenter.replay", "main", "reconstruct calls from a raw AMI capture"),
    "simulate": ("routing.simulate", "main_simulate",
                 "discrete-event simulation of the router in virtual time"),
    "erlang": ("routing.simulate", "main_erlang", "agents needed by Erlang C"),
    "ivr": ("callcenter.cli", "_ivr", "check IVR flows, or draw them (ivr check|graph)"),
    "asterisk-config": ("callcenter.asterisk_config", "main",
                        "render Asterisk configuration from templates"),
    "users": ("callcenter.users", "main_users", "add and list console users"),
    "db": ("callcenter.schema", "main_db",
           "schema migrations of the store (db upgrade|current|history)"),
}


def _ivr(argv: list[str]) -> int:
    from ivr.cli import main_check, main_graph

    commands = {"check": main_check, "graph": main_graph}
    if not argv or argv[0] not in commands:
        print("usage: callcenter ivr check FILE... | callcenter ivr graph FILE --out OUT.svg",
              file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


def _delegate(name: str, argv: list[str]) -> int:
    import importlib

    module_name, function, _ = DELEGATED[name]
    module = importlib.import_module(module_name)
    return int(getattr(module, function)(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv[0], argv[1:])
    parser = argparse.ArgumentParser(
        prog="callcenter", description=__doc__,
        epilog="also: " + "; ".join(f"{k}: {v[2]}" for k, v in DELEGATED.items()))
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything on embedded defaults with a simulated PBX")
    demo.add_argument("--config", help="settings file (TOML)")
    demo.add_argument("--http-port", type=int, default=8080)
    demo.add_argument("--ws-port", type=int, default=None, help="default: HTTP port + 1")
    demo.add_argument("--data-dir", default=None, help="default: ./callcenter-data")
    demo.add_argument("--headless", action="store_true",
                      help="no browser user: simulated agents log in over the console protocol")
    demo.add_argument("--calls", type=int, default=200, help="headless: stop after N calls")
    demo.add_argument("--agents", type=int, default=5)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--customers", type=int, default=10_000)
    demo.add_argument("--rate", type=float, default=None, help="calls per second")
    demo.add_argument("--no-traffic", action="store_true",
                      help="place no calls by themselves (tests place their own)")
    demo.add_argument("--log-level", default=None, help="debug, info, warn, error")

    serve = sub.add_parser("serve", help="run against a real Asterisk")
    serve.add_argument("--config", required=True, help="settings file (TOML)")
    serve.add_argument("--log-level", default="info")

    args = parser.parse_args(argv)
    from callcenter.settings import SettingsError

    try:
        if args.command == "demo":
            from callcenter.demo import run_demo

            start_logging(args.log_level or ("warn" if args.headless else "info"))
            return run_demo(args, _install_reactor())
        if args.command == "serve":
            start_logging(args.log_level)
            return _serve(args, _install_reactor())
    except SettingsError as e:
        print(f"callcenter: {e}", file=sys.stderr)
        return 2
    return 1


def _serve(args, reactor) -> int:
    from callcenter.app import make_service
    from callcenter.settings import load_settings

    settings = load_settings(args.config)
    service = make_service(settings, reactor)
    failed = []

    def start():
        d = service.start()

        def died(f):
            failed.append(f)
            print(f"callcenter: could not start: {f.getErrorMessage()}", file=sys.stderr)
            reactor.stop()

        d.addErrback(died)

    reactor.callLater(0, start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
