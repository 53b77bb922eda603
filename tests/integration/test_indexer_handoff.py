"""The incident indexer is started holding its lock (observer.spawn_indexer hands it over as
fd 3), so mail sent while it starts up starts no second one."""

from __future__ import annotations

import os
from pathlib import Path

from sendguard.incidents.observer import (
    indexer_lock_path,
    indexer_running,
    spawn_indexer,
)
from tests.support.wait import wait_until


def test_the_lock_is_held_from_the_spawn_on_and_a_second_spawn_starts_nothing(tmp_path):
    state = tmp_path / "state"
    indexer_lock_path(state).parent.mkdir(parents=True)
    pid = spawn_indexer(state)
    assert pid is not None
    assert indexer_running(state), "held the moment spawn_indexer returned, before the child ran a line"
    assert spawn_indexer(state) is None
    wait_until(lambda: not indexer_running(state), 30)
    assert not indexer_running(state), "the indexer let go of the lock when it was done"
    assert spawn_indexer(state) is not None  # and the next one may start
    _wait_gone(state)


def _wait_gone(state: Path) -> None:
    wait_until(lambda: not indexer_running(state), 30)
    assert os.path.isdir(state)
