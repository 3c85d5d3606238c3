"""Hypothesis profiles: CI never explores at random, a developer's run does, and a wider search is one variable away.

    ci       derandomized: the same examples on every run (seeded by each test's name), no database, no deadline.
             Chosen when CI is set (CI runs `bash .ci/run` with CI=true; .ci/run also names it).
    dev      random examples, the counts the tests ask for: what a plain `pytest` runs outside CI.
    explore  random, EXPLORE_FACTOR times as many examples: `HYPOTHESIS_PROFILE=explore pytest tests/test_properties.py`.

A failure that exploration finds is pinned as an ``@example`` or a plain test, so CI checks it on every run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXPLORE_FACTOR = 20
_QUIET_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]

# Each says every setting it relies on: Hypothesis loads a "ci" profile of its own when it sees CI set, and a profile
# registered then would inherit its derandomize.
_COMMON = dict(deadline=None, print_blob=True, suppress_health_check=_QUIET_CHECKS)
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", derandomize=False, **_COMMON)
settings.register_profile("explore", derandomize=False, **_COMMON)


def active_profile() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "dev")
    if name not in ("ci", "dev", "explore"):
        raise ValueError(f"HYPOTHESIS_PROFILE={name!r}: use ci, dev or explore")
    return name


PROFILE = "dev"


def load() -> str:
    """Load the profile the environment asks for (conftest's pytest_configure: before any test module is imported)."""
    global PROFILE
    PROFILE = active_profile()
    settings.load_profile(PROFILE)
    return PROFILE


def budget(n: int) -> settings:
    """Settings for a property test that runs ``n`` examples (EXPLORE_FACTOR times as many under ``explore``);
    everything else comes from the loaded profile."""
    return settings(max_examples=n * EXPLORE_FACTOR if PROFILE == "explore" else n)
