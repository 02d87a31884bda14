"""The simulation against Erlang C, and a large run that must break no invariant."""

import json
import math

import pytest

from routing.simulate import (
    SimConfig,
    agents_needed,
    asa,
    erlang_c,
    main_erlang,
    main_simulate,
    service_level,
    simulate,
)


def textbook_erlang_c(n, a):
    top = a ** n / math.factorial(n) * n / (n - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)


def test_erlang_c_matches_the_textbook_formula():
    for n, a in ((10, 7.2), (25, 21.6), (3, 0.5), (60, 55.0)):
        assert erlang_c(n, a) == pytest.approx(textbook_erlang_c(n, a), rel=1e-9)
    assert erlang_c(5, 6.0) == 1.0
    assert asa(10, 0.04, 180.0) == pytest.approx(erlang_c(10, 7.2) * 180 / 2.8)


def test_agents_needed_is_the_fewest_meeting_the_target():
    n = agents_needed(0.12, 180.0, 20.0, 0.8)
    assert service_level(n, 0.12, 180.0, 20.0) >= 0.8 > service_level(n - 1, 0.12, 180.0, 20.0)


def test_simulation_agrees_with_erlang_c_single_skill_exponential():
    r = simulate(SimConfig(agents=10, rate=0.04, aht=180.0, minutes=40_000, seed=7))
    assert r.violations == []
    assert r.offered > 90_000 and r.abandoned == 0
    assert r.service_level == pytest.approx(service_level(10, 0.04, 180.0, 20.0), abs=0.025)
    assert r.asa_s == pytest.approx(asa(10, 0.04, 180.0), rel=0.20)
    lo, hi = r.service_level_ci95
    assert lo < r.service_level < hi
    assert r.occupancy == pytest.approx(0.72, abs=0.02)


def test_large_mixed_run_with_skills_priorities_rona_and_abandons_breaks_no_invariant():
    r = simulate(SimConfig(agents=500, rate=30.0, aht=15.0, minutes=60, patience=60.0,
                           skills=10, priorities=True, no_answer=0.02, wrapup=2.0, seed=1))
    assert r.violations == []
    assert r.offered > 100_000
    assert r.answered + r.abandoned + r.in_progress == r.offered
    assert r.answered > 50_000 and r.abandoned > 0


def test_lognormal_handle_times_with_patience_report_abandons():
    r = simulate(SimConfig(agents=5, rate=0.05, aht=120.0, handle="lognormal",
                           patience=30.0, minutes=600, seed=3))
    assert r.violations == [] and r.abandoned > 0
    assert r.max_wait_s < math.inf


def test_simulate_command_prints_one_json_object(capsys):
    assert main_simulate(["--agents", "25", "--rate", "0.12", "--aht", "180", "--patience",
                          "inf", "--minutes", "600", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("offered", "answered", "abandoned", "service_level", "asa_s", "occupancy",
                "max_wait_s", "violations", "service_level_ci95", "asa_ci95"):
        assert key in out
    assert out["violations"] == []


def test_erlang_command_lists_agents_needed_and_a_table(capsys):
    assert main_erlang(["--rate", "0.12", "--aht", "180", "--threshold", "20",
                        "--target-sl", "0.8"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {row["agents"]: row for row in out["table"]}
    assert rows[out["agents_needed"]]["service_level"] >= 0.8
    assert rows[out["agents_needed"] - 1]["service_level"] < 0.8


def test_bad_arguments_exit_with_usage_error():
    with pytest.raises(SystemExit) as e:
        main_simulate(["--agents", "0"])
    assert e.value.code == 2
