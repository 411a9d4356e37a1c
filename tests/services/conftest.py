"""Use cases run against the sandbox on real loopback, as in tests/e2e."""

from tests.e2e.conftest import rt, sandbox  # noqa: F401 - fixtures
