"""A simulated Asterisk 22 (AMI server + FastAGI client) for demos and tests."""

from callcenter.simulator.pbx import (
    CallerScript,
    Pbx,
    PhoneBehaviour,
    SimulatedCall,
    Timings,
    render_event,
)
from callcenter.simulator.service import SimulatorService, Traffic

__all__ = [
    "CallerScript",
    "Pbx",
    "PhoneBehaviour",
    "SimulatedCall",
    "SimulatorService",
    "Timings",
    "Traffic",
    "render_event",
]
