"""Test support shipped with the bridge: a faithful GitLab simulator and its datasets.

Like ``structlog.testing``, these are real, tested parts of the package, so that the bridge's own
tests, benchmarks and demo (and users' tests of their receivers) run against the same world.

Test support: configs, crawl, driver, fakes, mutations, oracle, receiver, scenarios, sim, soak,
workload, workload_driver
"""

from bridge.testing.sim.profiles import PROFILES, Profile, get_profile
from bridge.testing.sim.simulator import Simulator
from bridge.testing.sim.world import SimClock, SimError, World

__all__ = ["PROFILES", "Profile", "SimClock", "SimError", "Simulator", "World", "get_profile"]
