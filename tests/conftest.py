"""Hypothesis profiles: ``ci`` (default, quick, derandomized) and ``dev`` (more, random examples).

Choose one with ``HYPOTHESIS_PROFILE=dev python -m pytest``. Both have no
deadline: a slow shared CI machine must not turn into a failing test.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=30,
    derandomize=True,  # the same examples on every CI run: a red CI must be reproducible
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
