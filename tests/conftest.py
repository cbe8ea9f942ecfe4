"""Settings for every tier."""

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed (timing goals are benchmarks): no per-example
# deadline, and no failure because a loaded machine generated inputs slowly.
settings.register_profile(
    "switchboard", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("switchboard")
