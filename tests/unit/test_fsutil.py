"""fsutil.as_owner_of: root writing into another user's directory writes as that user."""

from __future__ import annotations

import os

import pytest

from sendguard.fsutil import as_owner_of, atomic_write

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can act as another user")


@pytest.fixture
def reachable():  # type: ignore[no-untyped-def]
    """A directory another user can reach (pytest's tmp_path sits in root's 0700 one)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="sendguard-fsutil-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_what_root_writes_in_another_users_directory_is_theirs_and_root_is_root_again(reachable):
    tmp_path = reachable
    theirs = tmp_path / "milter"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    groups = os.getgroups()
    with pytest.raises(RuntimeError), as_owner_of(theirs):
        atomic_write(theirs / "meta.json", b"{}")
        assert (os.geteuid(), os.getegid(), os.getgroups()) == (65534, 65534, [])
        raise RuntimeError("a failure inside")
    assert (os.geteuid(), os.getegid(), os.getgroups()) == (0, 0, groups)
    st = (theirs / "meta.json").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o600)
    with as_owner_of(tmp_path):  # root's own: nothing changes
        assert os.geteuid() == 0
    with as_owner_of(tmp_path / "missing"):
        assert os.geteuid() == 0
