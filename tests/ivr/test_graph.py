"""`ivr graph`: the flow as SVG (pure Python) and PNG (headless Chromium)."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.cli import main_graph
from ivr.graph import chromium, render_svg
from ivr.load import load_flow, parse_flow

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def test_svg_is_well_formed_and_has_one_box_per_node():
    flow, _ = load_flow(ROOT / "config" / "ivr" / "demo.toml")
    root = ET.fromstring(render_svg(flow))
    ids = {g.get("id") for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert ids == {f"node-{n}" for n in flow.nodes}
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "main menu" in texts and "1 sales" in texts and "queue support [billing]" in texts


def test_missing_target_is_drawn_dashed_red_and_text_is_escaped():
    flow, _ = parse_flow({"flow": {"start": "a", "name": "<x & y>"},
                          "nodes": {"a": {"kind": "play", "prompts": ["p"], "next": "ghost"}}},
                         "f.toml")
    svg = render_svg(flow)
    root = ET.fromstring(svg)
    assert "&lt;x &amp; y&gt;" in svg
    ghost = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "node-ghost")
    assert ghost.find(f"{SVG}rect").get("stroke") == "#dc2626"


def test_graph_command_writes_svg(tmp_path):
    out = tmp_path / "demo.svg"
    assert main_graph([str(ROOT / "config" / "ivr" / "demo.toml"), "--out", str(out)]) == 0
    ET.parse(out)


def test_graph_command_refuses_unknown_extension(tmp_path, capsys):
    assert main_graph([str(ROOT / "config" / "ivr" / "demo.toml"), "--out",
                       str(tmp_path / "x.gif")]) == 1
    assert "write .svg or .png" in capsys.readouterr().err


@pytest.mark.skipif(chromium() is None, reason="PNG needs Debian's chromium")
def test_graph_command_writes_png(tmp_path):
    out = tmp_path / "demo.png"
    assert main_graph([str(ROOT / "tests" / "ivr" / "flows" / "second.toml"),
                       "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
