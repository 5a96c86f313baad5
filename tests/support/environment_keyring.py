"""A key store for subprocesses under test: every key is ``$TALLYBOOK_TEST_KEY``.

Selected with ``PYTHON_KEYRING_BACKEND=tests.support.environment_keyring.EnvironmentKeyring``
so a ``tallybook`` process started by a test finds the key of a custom endpoint, which has no
environment-variable fallback of its own. Tests only; it stores nothing.
"""

from __future__ import annotations

import os

from keyring.backend import KeyringBackend


class EnvironmentKeyring(KeyringBackend):
    """Answers every lookup with the test's key; refuses writes."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return os.environ.get("TALLYBOOK_TEST_KEY")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError("a read-only key store for tests")

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError("a read-only key store for tests")
