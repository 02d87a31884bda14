"""Draws a flow as a picture: SVG from pure Python, PNG through headless Chromium.

Layout: nodes in rows by their distance from the start node, ordered within a row
to keep edges short (one barycentre pass), forward edges drawn straight down and
edges back up (loops, retries) curved on the right. Each kind has its own colour;
a target that does not exist is drawn red and dashed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from ivr import model as m

W, H = 190, 50           # node box
GAP_X, GAP_Y = 40, 80    # between boxes / rows
MARGIN = 30

COLOURS = {
    "play": "#dbeafe", "menu": "#fde68a", "collect": "#fed7aa", "identify": "#e9d5ff",
    "condition": "#e5e7eb", "set": "#d1fae5", "language": "#cffafe", "queue": "#bbf7d0",
    "voicemail": "#fbcfe8", "transfer": "#c7d2fe", "hangup": "#fecaca", "missing": "#ffffff",
}


def _rows(flow: m.Flow) -> list[list[str]]:
    depth: dict[str, int] = {}
    order = [flow.start] if flow.start in flow.nodes else []
    if order:
        depth[flow.start] = 0
    i = 0
    while i < len(order):
        node = flow.nodes.get(order[i])
        for _, target in node.targets() if node else ():
            if target and target not in depth:
                depth[target] = depth[order[i]] + 1
                order.append(target)
        i += 1
    bottom = max(depth.values(), default=-1) + 1
    for node_id in flow.nodes:  # unreachable nodes: a row of their own at the bottom
        if node_id not in depth:
            depth[node_id] = bottom
            order.append(node_id)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node_id in order:
        rows[depth[node_id]].append(node_id)
    # One barycentre pass: order each row by the mean position of its parents.
    pos = {n: float(i) for i, n in enumerate(rows[0])} if rows else {}
    for r in range(1, len(rows)):
        def key(n: str, r: int = r) -> float:
            parents = [pos[p] for p in rows[r - 1] if p in flow.nodes
                       and n in (t for _, t in flow.nodes[p].targets())]
            return sum(parents) / len(parents) if parents else 1e9
        rows[r].sort(key=key)
        pos.update({n: float(i) for i, n in enumerate(rows[r])})
    return rows


def render_svg(flow: m.Flow) -> str:
    """The flow as a standalone SVG document."""
    rows = _rows(flow)
    width = max((len(r) for r in rows), default=1) * (W + GAP_X) - GAP_X + 2 * MARGIN + 120
    height = len(rows) * (H + GAP_Y) - GAP_Y + 2 * MARGIN + 30
    xy: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        row_width = len(row) * (W + GAP_X) - GAP_X
        x0 = (width - 120 - row_width) / 2
        for i, node_id in enumerate(row):
            xy[node_id] = (x0 + i * (W + GAP_X), MARGIN + 30 + r * (H + GAP_Y))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#374151"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN}" font-size="15" font-weight="bold">'
        f'{escape(flow.name)}{escape(" — " + ", ".join(flow.dnis)) if flow.dnis else ""}'
        f'{" (default)" if flow.default else ""}</text>',
    ]
    edges, boxes = [], []
    for node_id, (x, y) in xy.items():
        node = flow.nodes.get(node_id)
        kind = node.kind if node else "missing"
        dash = ' stroke-dasharray="5,3" stroke="#dc2626"' if node is None else ' stroke="#374151"'
        rx = 22 if kind in m.FINAL_KINDS else 6
        boxes.append(
            f'<g class="node" id="node-{escape(node_id)}"><rect x="{x:.0f}" y="{y:.0f}" '
            f'width="{W}" height="{H}" rx="{rx}" fill="{COLOURS[kind]}"{dash}/>'
            f'<text x="{x + W / 2:.0f}" y="{y + 20:.0f}" text-anchor="middle" '
            f'font-weight="bold">{escape(_short(node.title if node else node_id))}</text>'
            f'<text x="{x + W / 2:.0f}" y="{y + 38:.0f}" text-anchor="middle" fill="#4b5563">'
            f'{escape(_short(_detail(node) if node else "missing node"))}</text></g>')
        if node is None:
            continue
        merged: dict[str, list[str]] = {}
        for role, target in node.targets():
            if target and target in xy:
                merged.setdefault(target, []).append(role)
        for k, (target, roles) in enumerate(merged.items()):
            role = " / ".join(roles)
            tx, ty = xy[target]
            if ty == y and tx != x:  # same row: dip below
                x1, y1, x2, y2 = x + W / 2, y + H, tx + W / 2, ty + H
                edges.append(f'<path d="M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 40:.0f} '
                             f'{x2:.0f},{y2 + 40:.0f} {x2:.0f},{y2:.0f}" fill="none" '
                             f'stroke="#9ca3af" stroke-dasharray="4,3" marker-end="url(#arrow)"/>')
                lx, ly = (x1 + x2) / 2, y1 + 34
            elif ty > y:  # forward: bottom centre to top centre
                x1, y1, x2, y2 = x + W / 2, y + H, tx + W / 2, ty
                edges.append(f'<path d="M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 30:.0f} '
                             f'{x2:.0f},{y2 - 30:.0f} {x2:.0f},{y2:.0f}" fill="none" '
                             f'stroke="#374151" marker-end="url(#arrow)"/>')
                lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 + 4
            else:  # back or sideways: around the right
                x1, y1, x2, y2 = x + W, y + H / 2 + 6 * k, tx + W, ty + H / 2
                bend = max(x1, x2) + 50 + 12 * k
                edges.append(f'<path d="M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} '
                             f'{bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" fill="none" '
                             f'stroke="#9ca3af" stroke-dasharray="4,3" marker-end="url(#arrow)"/>')
                lx, ly = bend - 4, (y1 + y2) / 2
            if role not in ("next",):
                edges.append(f'<text x="{lx:.0f}" y="{ly:.0f}" text-anchor="middle" '
                             f'font-size="11" fill="#1f2937" stroke="#ffffff" stroke-width="3" '
                             f'paint-order="stroke">{escape(_short(role, 22))}</text>')
    out += edges + boxes + ["</svg>"]
    return "\n".join(out) + "\n"


def _detail(node: m.Node) -> str:
    if isinstance(node, m.Queue):
        extra = f" [{', '.join(node.skills)}]" if node.skills else ""
        return f"queue {node.queue}{extra}"
    if isinstance(node, m.Condition):
        what = {"hours": node.schedule, "tier": "/".join(node.values),
                "wait": f"{node.queue} > {node.above:.0f} s",
                "variable": f"{node.variable} in {'/'.join(node.values)}"}.get(node.test, "")
        return f"if {node.test} {what}"
    if isinstance(node, m.Transfer):
        return f"transfer {node.number or 'flow ' + node.flow}"
    if isinstance(node, m.Voicemail):
        return f"voicemail {node.mailbox}"
    if isinstance(node, m.Language):
        return f"language {node.language}"
    if isinstance(node, m.Identify):
        return "identify by " + " / ".join(node.by)
    if isinstance(node, m.Collect):
        return f"collect {node.variable} ({node.check})"
    first = next(iter(node.prompts()), None)
    sound = (first.sound or next(iter(first.by_language.values()), "")) if first else ""
    return f"{node.kind} {sound}".strip()


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class PictureError(Exception):
    """The picture could not be made (no browser for PNG, an unknown extension)."""


def chromium() -> str | None:
    for name in (os.environ.get("CALLCENTER_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def svg_to_png(svg: str, out: Path, timeout: float = 60.0) -> None:
    """Rasterise with headless Chromium (Debian's ``chromium`` package)."""
    browser = chromium()
    if browser is None:
        raise PictureError("PNG needs Chromium (apt-get install chromium); write .svg instead")
    width = int(float(svg.split('width="', 1)[1].split('"', 1)[0]))
    height = int(float(svg.split('height="', 1)[1].split('"', 1)[0]))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "flow.svg"
        src.write_text(svg, encoding="utf-8")
        target = Path(tmp) / "flow.png"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-background-networking", "--disable-sync",
               "--disable-component-update", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp}/profile", f"--screenshot={target}",
               f"--window-size={width},{height}", src.as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PictureError("Chromium did not finish the PNG in time") from None
        if not target.exists():
            raise PictureError("Chromium did not write the PNG")
        out.write_bytes(target.read_bytes())


def write_picture(flow: m.Flow, out: str | Path) -> Path:
    """Write ``out`` as SVG or PNG, chosen by its extension."""
    out = Path(out)
    svg = render_svg(flow)
    if out.suffix.lower() == ".svg":
        out.write_text(svg, encoding="utf-8")
    elif out.suffix.lower() == ".png":
        svg_to_png(svg, out)
    else:
        raise PictureError(f"{out}: write .svg or .png")
    return out
