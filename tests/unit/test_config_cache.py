"""The parsed-config cache: the same Config as parsing the file, edits seen by the very next
load, a broken cache ignored, errors always from the file with their lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sendguard import paths
from sendguard.config import cache as config_cache
from sendguard.config import schema as config_mod
from sendguard.errors import ConfigError

TEXT = """\
[organization]
domains = ["nordwerk.example"]
[clients.kundenfirma]
domains = ["kundenfirma.example"]
keywords = ["Falke"]
[rules.external-recipient]
action = "hold"
[transport]
timeout = 30.0
"""


def cache_file() -> Path:
    return paths.state_dir() / config_cache.CACHE_NAME


def parsed(path: Path, text: str = TEXT) -> config_mod.Config:
    """What parsing the file gives, as load would return it."""
    config = config_mod.parse(text, str(path))
    config.path = path
    return config


@pytest.fixture
def old_file(tmp_path, monkeypatch):
    """A config file whose mtime and ctime count as settled (the clock moved on)."""
    path = tmp_path / "config.toml"
    path.write_text(TEXT)
    real_time = time.time
    monkeypatch.setattr(config_cache.time, "time", lambda: real_time() + 60)
    return path


def test_the_second_load_comes_from_the_cache_and_equals_the_first(old_file):
    first = config_mod.load(old_file)
    assert cache_file().exists() and oct(cache_file().stat().st_mode & 0o777) == "0o600"
    assert config_cache.read(old_file, paths.state_dir()) is not None
    second = config_mod.load(old_file)
    assert second == first == parsed(old_file)


def test_a_fresh_interpreter_loads_a_cached_config_without_tomllib(old_file):
    config_mod.load(old_file)
    code = (
        "import sys\nfrom pathlib import Path\nfrom sendguard.config import schema as config\n"
        f"c = config.load(Path({str(old_file)!r}))\n"
        "print('tomllib' in sys.modules, c.rules['external-recipient'].action.label)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.stdout.split() == ["False", "hold"], out.stderr


def test_a_file_just_written_is_not_cached_so_an_edit_is_seen_at_once(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(TEXT)
    # "just": the clock reads the file's own change time, however long this machine stalls
    monkeypatch.setattr(config_cache.time, "time", lambda: path.stat().st_ctime)
    config_mod.load(path)
    assert not cache_file().exists()
    path.write_text(TEXT.replace('"hold"', '"warn"'))  # same size, same second
    assert config_mod.load(path).rules["external-recipient"].action.label == "warn"


def test_an_edit_after_caching_is_seen(old_file):
    config_mod.load(old_file)
    stat = old_file.stat()
    old_file.write_text(TEXT.replace('"hold"', '"warn"'))
    os.utime(old_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, mtime put back: ctime differs
    assert config_mod.load(old_file).rules["external-recipient"].action.label == "warn"


def test_a_broken_or_foreign_cache_is_ignored(old_file):
    expected = parsed(old_file)
    paths.state_dir(create=True)
    for junk in ("{not json", "[]", json.dumps({"key": "x", "data": {}}), ""):
        cache_file().write_text(junk)
        assert config_mod.load(old_file) == expected


def test_cached_data_that_no_longer_validates_gives_the_files_errors_with_lines(old_file):
    config_mod.load(old_file)
    cached = json.loads(cache_file().read_text())
    cached["data"]["organization"]["domain"] = ["typo.example"]  # as if validation had changed
    cache_file().write_text(json.dumps(cached))
    assert config_mod.load(old_file) == parsed(old_file)  # the file itself is fine
    old_file.write_text(TEXT + "[sendmail]\nconfirm_window = 'soon'\n")
    with pytest.raises(ConfigError) as err:
        config_mod.load(old_file)
    assert "config.toml:11: sendmail.confirm_window" in str(err.value.details())


def test_a_toml_date_is_parsed_each_time(old_file):
    old_file.write_text(TEXT + "[rules.secrets]\naction = 'warn'\n# when = 2026-11-27\n")
    config_mod.load(old_file)
    data = config_cache.read(old_file, paths.state_dir())
    assert data is not None and data["rules"]["secrets"] == {"action": "warn"}
    config_cache.write(
        config_cache.key_of(old_file),
        {"x": __import__("datetime").date(2026, 11, 27)},
        paths.state_dir(),
        now=time.time() + 60,
    )
    assert config_cache.read(old_file, paths.state_dir()) == data  # the date could not be cached: unchanged
