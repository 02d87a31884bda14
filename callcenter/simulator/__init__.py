"""A simulated Asterisk 22 (AMI server + FastAGI client) for demos and tests."""

from callcenter.simulator.pbx import (
    CallerScript,
    Pbx,
    PhoneBehaviour,
    SimulatedCall,
    Timings,
    render_event,
)
from callcenter.simulator.queues import LAB_QUEUES_CONF, Member, Queue, parse_queues_conf
from callcenter.simulator.service import SimulatorService, Traffic

__all__ = [
    "LAB_QUEUES_CONF",
    "CallerScript",
    "Member",
    "Pbx",
    "PhoneBehaviour",
    "Queue",
    "SimulatedCall",
    "SimulatorService",
    "Timings",
    "Traffic",
    "parse_queues_conf",
    "render_event",
]
