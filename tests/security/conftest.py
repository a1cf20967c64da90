"""One real assistant hardened as in production, with every messaging channel on.

Rasa's HTTP API is on with a token (tests/servers.py) and a JWT secret, CORS allows
one origin, and the fake platform API of the channel tests records outbound calls.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator, List

import pytest

from tests.channels.conftest import Channels, all_channels
from tests.channels.recorder import Recorder
from tests.servers import running_assistant

ALLOWED_ORIGIN = "https://chat.example.org"
JWT_SECRET = "security-test-jwt-secret-of-32-bytes-or-more"


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Iterator[Channels]:
    """The assistant with all channels, the token- and JWT-protected API, and CORS."""
    tmp = tmp_path_factory.mktemp("security")
    credentials, env = all_channels(tmp, recorder)
    with running_assistant(tmp, credentials=credentials, env=env,
                           rasa_args=("--cors", ALLOWED_ORIGIN, "--jwt-secret", JWT_SECRET)
                           ) as assistant:
        yield Channels(assistant, recorder, env)


def stored_rows(channels: Channels, sender: str) -> List[str]:
    """The stored events (JSON) of a conversation, oldest first."""
    with sqlite3.connect(channels.assistant.db) as connection:
        return [row[0] for row in connection.execute(
            "select data from events where sender_id = ? order by id", (sender,))]
