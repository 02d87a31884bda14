"""Finds what is wrong with flows: every problem with its file, node and reason.

Checked: unknown targets, nodes nothing leads to, loops that can never end without
the caller typing something, menus with no timeout path, missing prompt names (also
per language), queues that do not exist, invalid or unknown schedules, transfers to
unknown flows, and clashes between flows (a number claimed twice, two defaults).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ivr import model as m
from ivr.load import FlowError, Problem, flow_files, load_flow


def check_flow(
    flow: m.Flow, queues: Iterable[str] | None = None, flows: Iterable[str] | None = None
) -> list[Problem]:
    """Problems of one loaded flow. ``queues``/``flows``: the names that exist (None:
    not checked)."""
    file, nodes = flow.source, flow.nodes
    out: list[Problem] = []

    def problem(node: str, reason: str) -> None:
        out.append(Problem(file, node, reason))

    if flow.start and flow.start not in nodes:
        problem("[flow]", f"unknown target: start node {flow.start!r} does not exist")
    for node in nodes.values():
        for role, target in node.targets():
            if target and target not in nodes:
                problem(node.id, f"unknown target: {role} goes to {target!r}, which does not exist")
        for prompt in node.prompts():
            if prompt.by_language and not prompt.sound:
                for lang in flow.languages:
                    if lang not in prompt.by_language:
                        problem(node.id, f"missing prompt name for language {lang!r} "
                                         f"(has {', '.join(prompt.by_language)})")
        if isinstance(node, m.Condition) and node.test == "hours":
            if node.schedule and node.schedule not in flow.schedules:
                problem(node.id, f"invalid schedule: no valid schedule named {node.schedule!r}")
        if isinstance(node, m.Language | m.Set) and node.language:
            if node.language not in flow.languages:
                problem(node.id, f"language {node.language!r} is not one of the flow's "
                                 f"languages ({', '.join(flow.languages)})")
        if isinstance(node, m.Transfer) and node.flow and flows is not None:
            if node.flow not in set(flows):
                problem(node.id, f"unknown target: no flow named {node.flow!r}")
        if queues is not None:
            known = set(queues)
            wanted = node.queue if isinstance(node, m.Queue | m.Condition) else ""
            if wanted and wanted not in known:
                problem(node.id, f"unknown queue {wanted!r} (queues: {', '.join(sorted(known))})")
    if queues is not None and flow.fallback_queue and flow.fallback_queue not in set(queues):
        problem("[flow]", f"unknown queue {flow.fallback_queue!r} in fallback_queue")

    # Reachability from the start node.
    seen: set[str] = set()
    todo = [flow.start] if flow.start in nodes else []
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo.extend(t for _, t in nodes[node_id].targets() if t in nodes)
    if flow.start in nodes:
        for node_id in nodes:
            if node_id not in seen:
                problem(node_id, f"unreachable node: nothing leads here from start {flow.start!r}")

    for cycle in _loops_without_input(nodes):
        problem(cycle[0], "loop that can never end without input: "
                          + " -> ".join([*cycle, cycle[0]]))
    return out


def _loops_without_input(nodes) -> list[list[str]]:
    """Cycles made only of nodes that never wait for a key (Tarjan's SCC)."""
    quiet = {k: n for k, n in nodes.items() if n.kind not in m.INPUT_KINDS}
    edges = {k: [t for _, t in n.targets() if t in quiet] for k, n in quiet.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                found.append(sorted(comp, key=list(quiet).index))

    for v in quiet:
        if v not in index:
            visit(v)
    return found


def check_files(
    paths: list[str | Path], queues: Iterable[str] | None = None
) -> tuple[m.FlowBook, list[Problem]]:
    """Load and check every flow file (directories: their ``*.toml``)."""
    problems: list[Problem] = []
    flows: list[m.Flow] = []
    files = flow_files(paths)
    if not files:
        problems.append(Problem(" ".join(map(str, paths)) or "(none)", "", "no flow files"))
    for path in files:
        flow, found = load_flow(path)
        problems.extend(found)
        if flow is not None:
            flows.append(flow)
    names = [f.name for f in flows]
    for flow in flows:
        problems.extend(check_flow(flow, queues, names))
        if names.count(flow.name) > 1:
            problems.append(Problem(flow.source, "[flow]", f"flow name {flow.name!r} is used twice"))
    owner: dict[str, str] = {}
    for flow in flows:
        for number in flow.dnis:
            if number in owner:
                problems.append(Problem(flow.source, "[flow]",
                                        f"number {number} is already answered by {owner[number]}"))
            owner.setdefault(number, flow.source)
    defaults = [f.source for f in flows if f.default]
    if len(defaults) > 1:
        problems.append(Problem(defaults[1], "[flow]",
                                f"default = true here and in {defaults[0]}: only one default"))
    return m.FlowBook(flows), problems


def load_book(paths: list[str | Path], queues: Iterable[str] | None = None) -> m.FlowBook:
    """Every flow, checked; raises ``FlowError`` listing every problem (the server
    refuses to start with it)."""
    book, problems = check_files(paths, queues)
    if problems:
        raise FlowError(problems)
    return book
