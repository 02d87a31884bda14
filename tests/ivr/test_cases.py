import pytest

from tests.ivr.cases import CASES, mismatches, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scripted_caller_reaches_the_expected_end(case):
    finished, caller, crm = run_case(case)
    assert mismatches(finished, case.expect) == []


def test_every_node_kind_is_visited_by_some_case():
    from ivr.check import load_book
    from tests.ivr.cases import FLOWS

    book = load_book([FLOWS])
    kinds_seen = set()
    for case in CASES:
        finished, _, _ = run_case(case)
        flow_nodes = {**book.by_name["lab"].nodes, **book.by_name["second"].nodes}
        kinds_seen |= {flow_nodes[s["step"]].kind for s in finished.path if s["step"] in flow_nodes}
    assert kinds_seen == {"play", "menu", "collect", "identify", "condition", "set", "language",
                          "queue", "voicemail", "transfer", "hangup"}
