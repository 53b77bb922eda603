"""The distribution as a user gets it, not the checkout's editable install.

A copy of this tree is built into an sdist and a wheel offline (``python -m build --no-isolation``
with the venv's own setuptools), the sdist is built into a wheel again (what ``python -m build``
and ``pip install sendguard-*.tar.gz`` do), and the wheel is installed with ``--no-deps`` into a
fresh venv that sees its dependencies through a .pth naming this venv's site-packages (whose
.pth files, the editable install's among them, are not read from there). Its console scripts
then run from that venv: a module, a .tcss, a man page or a hook the wheel lacks shows here,
not first on a user's machine.

The build is done once per run, shared by pytest-xdist's workers under a lock.
"""

from __future__ import annotations

import configparser
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.conftest import make_message

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = re.search(r'^__version__ = "([^"]+)"', (ROOT / "sendguard" / "__init__.py").read_text(), re.M)[1]  # type: ignore[index]
NAME = f"sendguard-{VERSION}"
# what the README, the man page and every hook name: a rename or a lost entry breaks them all
SCRIPTS = {"sendguard": "sendguard.__main__:main", "sendguard-sendmail": "sendguard.sendpath.client:main"}
# never in a distribution (a name anywhere in the path)
NOT_SHIPPED = ("tests", "bench", "__pycache__", ".venv", ".git", ".ci", "build", "dist", ".pytest_cache")
# left out of the copy that is built: what a checkout has that `pip install .` must not depend on
NOT_COPIED = {".git", "build", "dist", "sendguard.egg-info", ".pytest_cache", ".hypothesis", ".ruff_cache"}
NOT_COPIED |= {".mypy_cache", ".import_linter_cache"}


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path
    wheel_from_sdist: Path
    venv: Path
    prefix: Path
    """The wheel installed with ``pip install --prefix`` for the python of ``bare``, a venv without it."""
    bare: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """This process's environment without what would put the checkout on sys.path; ``venv``'s bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _build_tools_missing() -> str | None:
    """The build frontend or a [build-system] requirement this venv lacks (the test extra has them)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        from packaging.requirements import Requirement

        version("build")
    except (ImportError, PackageNotFoundError):
        return "build"
    for spec in PYPROJECT["build-system"]["requires"]:
        req = Requirement(spec)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            return spec
        if not req.specifier.contains(have, prereleases=True):
            return f"{spec} (this venv has {have})"
    return None


def _copy_tree(dest: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) != ROOT:
            return set()
        return {n for n in names if n in NOT_COPIED or n.startswith(".venv")}

    shutil.copytree(ROOT, dest, symlinks=True, ignore=ignore)


def _build(base: Path) -> None:
    src, out, unpacked, venv = base / "src", base / "dist", base / "unpacked", base / "venv"
    for path in (src, out, unpacked, venv, base / "bare", base / "prefix"):
        shutil.rmtree(path, ignore_errors=True)
    _copy_tree(src)
    _run(sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", out, src)
    with tarfile.open(out / f"{NAME}.tar.gz") as tar:
        # our own sdist; extraction filters came with 3.11.4, Debian 12's python3 is 3.11.2
        tar.extractall(unpacked, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    _run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out / "from-sdist", unpacked / NAME)
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    wheel = out / f"{NAME}-py3-none-any.whl"
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index"]
    _run(*pip, "--no-cache-dir", "--quiet", wheel)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(purelib) / "_sendguard_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))
    # as Debian's own pip installs (into /usr/local, its sys.prefix being /usr), --user and --prefix:
    # for the python of a venv without sendguard (pip --prefix would uninstall this venv's editable
    # sendguard), which sees the dependencies only once it is installed
    bare = base / "bare"
    _run(sys.executable, "-m", "venv", "--without-pip", bare)
    pip = [sys.executable, "-m", "pip", "--python", bare / "bin" / "python", "install", "--no-deps", "--no-index"]
    _run(*pip, "--no-cache-dir", "--quiet", "--prefix", base / "prefix", wheel)
    bare_purelib = Path(purelib.replace(str(venv), str(bare), 1))
    (bare_purelib / "_sendguard_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    missing = _build_tools_missing()
    if missing:
        why = f"{missing} is not installed in this venv: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # this run's, for every worker
    base = shared / "packaging"
    base.mkdir(exist_ok=True)
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "built").exists():
            _build(base)
            (base / "built").touch()
    out = base / "dist"
    return Dist(
        out / f"{NAME}.tar.gz",
        out / f"{NAME}-py3-none-any.whl",
        out / "from-sdist" / f"{NAME}-py3-none-any.whl",
        base / "venv",
        base / "prefix",
        base / "bare",
    )


# -- what the source tree says must ship --------------------------------------------------------


def _files(top: Path) -> set[str]:
    """Files under ``top``, relative to it; no __pycache__, not through the sendguard/tui symlink."""
    found = set()
    for directory, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not (Path(directory) / d).is_symlink()]
        found |= {(Path(directory) / n).relative_to(top).as_posix() for n in names if not n.endswith(".pyc")}
    return found


def package_files() -> set[str]:
    """sendguard/ and tui/ (installed as sendguard/tui/): every module and data file."""
    return {f"sendguard/{f}" for f in _files(ROOT / "sendguard")} | {f"sendguard/tui/{f}" for f in _files(ROOT / "tui")}


def packages() -> set[str]:
    """Every directory of package_files() that holds a module, as an import name."""
    return {f.rsplit("/", 1)[0].replace("/", ".") for f in package_files() if f.endswith(".py")}


def data_files() -> set[str]:
    """The man pages (from man/*.scd: NAME.N.scd is manN/NAME.N) and every hook, under PREFIX."""
    pages = {p.name.removesuffix(".scd") for p in (ROOT / "man").glob("*.scd")}
    man = {f"share/man/man{page.rsplit('.', 1)[1]}/{page}" for page in pages}
    return man | {f"share/sendguard/hooks/{h}" for h in _files(ROOT / "hooks")}


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


def shipped_wrongly(names: list[str]) -> list[str]:
    return [n for n in names if set(n.split("/")) & set(NOT_SHIPPED) or n.endswith(".pyc")]


def test_the_source_tree_has_what_the_checks_below_compare_with():
    assert "sendguard.tui" in packages() and "sendguard.tui.screens" in packages()
    assert "sendguard/tui/app.tcss" in package_files()
    assert {
        "share/man/man1/sendguard.1",
        "share/man/man5/sendguard.toml.5",
        "share/man/man7/sendguard-rules.7",
    } <= data_files()
    assert "share/sendguard/hooks/sendemail-validate" in data_files()


# -- the wheel -----------------------------------------------------------------------------------


def test_the_wheel_holds_every_package_with_its_init(dist):
    names = set(wheel_names(dist.wheel))
    in_wheel = {
        n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.startswith("sendguard/") and n.endswith(".py")
    }
    missing = sorted(packages() - in_wheel)
    assert not missing, f"not in the wheel: {missing} (list them under [tool.setuptools] packages in pyproject.toml)"
    no_init = sorted(p for p in packages() if f"{p.replace('.', '/')}/__init__.py" not in names)
    assert not no_init, f"packages without __init__.py in the wheel: {no_init}"


def test_the_wheel_holds_every_module_and_data_file_and_nothing_else(dist):
    names = wheel_names(dist.wheel)
    assert not shipped_wrongly(names), shipped_wrongly(names)
    code = {n for n in names if n.startswith("sendguard/")}
    assert sorted(package_files() - code) == [], "modules or package data (.tcss) missing from the wheel"
    assert sorted(code - package_files()) == [], "the wheel has files the source tree does not"
    data_dir = f"{NAME}.data/data/"
    data = {n.removeprefix(data_dir) for n in names if n.startswith(data_dir)}
    assert data == data_files(), "man pages and hooks, installed under PREFIX/share"
    other = {n for n in names if not n.startswith(("sendguard/", data_dir))}
    assert {n.split("/", 1)[0] for n in other} == {f"{NAME}.dist-info"}, sorted(other)


def test_the_wheel_shipped_files_are_the_source_files(dist):
    with zipfile.ZipFile(dist.wheel) as z:
        assert z.read("sendguard/tui/app.tcss") == (ROOT / "tui" / "app.tcss").read_bytes()
        assert (
            z.read(f"{NAME}.data/data/share/man/man5/sendguard.toml.5")
            == (ROOT / "man" / "sendguard.toml.5").read_bytes()
        )
        hook = z.getinfo(f"{NAME}.data/data/share/sendguard/hooks/sendemail-validate")
        assert z.read(hook) == (ROOT / "hooks" / "sendemail-validate").read_bytes()


def test_the_wheel_declares_both_console_scripts(dist):
    with zipfile.ZipFile(dist.wheel) as z:
        text = z.read(f"{NAME}.dist-info/entry_points.txt").decode()
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    assert dict(entry_points["console_scripts"]) == SCRIPTS


def test_the_wheel_carries_the_license_text(dist):
    """pyproject names GPL-3.0-or-later; the text itself must travel with the package."""
    with zipfile.ZipFile(dist.wheel) as z:
        text = z.read(f"{NAME}.dist-info/licenses/COPYING").decode()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3" in text


# -- the sdist -----------------------------------------------------------------------------------


def test_the_sdist_holds_what_building_and_packaging_need(dist):
    with tarfile.open(dist.sdist) as tar:
        names = {m.name.removeprefix(f"{NAME}/") for m in tar.getmembers() if m.isfile()}
    assert not shipped_wrongly(sorted(names)), shipped_wrongly(sorted(names))
    needed = {"pyproject.toml", "README.md", "CHANGELOG.md", "COPYING", "PKG-INFO"}
    needed |= {f"man/{f}" for f in _files(ROOT / "man")}  # the .scd sources, the roff made of them, the Makefile
    needed |= {f"hooks/{h}" for h in _files(ROOT / "hooks")}
    needed |= {f"sendguard/{f}" for f in _files(ROOT / "sendguard")} | {f"tui/{f}" for f in _files(ROOT / "tui")}
    assert sorted(needed - names) == []


def test_a_wheel_built_from_the_sdist_is_the_wheel_built_from_the_checkout(dist):
    """``python -m build`` and ``pip install sendguard-*.tar.gz`` build from the unpacked sdist,
    where the sendguard/tui symlink is not: the review app must not get lost there."""
    assert sorted(wheel_names(dist.wheel_from_sdist)) == sorted(wheel_names(dist.wheel))


# -- the wheel installed into a fresh venv --------------------------------------------------------


def run(dist: Dist, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        list(args), env=clean_env(dist.venv), capture_output=True, text=True, timeout=60, check=False, **kwargs
    )


def test_the_installed_package_is_the_wheel_not_the_checkout(dist, tmp_path):
    code = (
        "import importlib.metadata as m, sendguard, sendguard.tui.app as app;"
        "print(sendguard.__file__); print(app.__file__); print(m.version('sendguard'))"
    )
    proc = run(dist, dist.bin("python"), "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    package, tui, version = proc.stdout.splitlines()
    assert Path(package).is_relative_to(dist.venv) and Path(tui).is_relative_to(dist.venv), proc.stdout
    assert version == VERSION


def test_the_installed_console_scripts_start(dist):
    proc = run(dist, dist.bin("sendguard"), "--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"sendguard, version {VERSION}"), proc.stderr
    head = (dist.venv / "bin" / "sendguard-sendmail").read_text().splitlines()[0]
    assert head == f"#!{dist.venv / 'bin' / 'python'}"


def test_the_installed_check_judges_a_message(dist, tmp_path):
    message = tmp_path / "message.eml"
    message.write_bytes(make_message(to="kai@nordwerk.example"))
    proc = run(dist, dist.bin("sendguard"), "check", "--json", str(message))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"file": str(message), "verdict": "pass", "findings": []}


def test_the_installed_sendmail_hands_a_message_to_msmtp(dist, world):
    installed = replace(world, sendmail=dist.bin("sendguard-sendmail"), sendguard=dist.bin("sendguard"))
    env = {**clean_env(dist.venv), "SENDGUARD_CONFIG": str(world.config_path)}
    proc = installed.send(make_message(to="kai@nordwerk.example", subject="installed"), "-t", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    (got,) = world.server.received
    assert got.rcpt_tos == ["kai@nordwerk.example"] and b"Subject: installed" in got.data


def test_setup_names_the_installed_hooks(dist):
    if not (shutil.which("git") and shutil.which("systemctl")):
        pytest.skip("setup names the hooks for git send-email and the systemd timer: git or systemctl is missing")
    proc = run(dist, dist.bin("sendguard"), "setup", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    hooks = dist.venv / "share" / "sendguard" / "hooks"
    named = re.findall(r"\S*/share/sendguard/hooks/[\w.-]+", proc.stdout)
    assert {Path(p) for p in named} == {
        hooks / h for h in ("sendemail-validate", "sendguard-queue.service", "sendguard-queue.timer")
    }, proc.stdout
    assert all(Path(p).is_file() for p in named)


def test_the_installed_man_pages_are_found(dist):
    env = {**clean_env(dist.venv), "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}
    pages = (("sendguard", "sendguard", 1), ("config", "sendguard.toml", 5), ("rules", "sendguard-rules", 7))
    for alias, name, section in pages:
        proc = subprocess.run(
            [dist.bin("sendguard"), "man", alias], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        # man's header of the formatted page, or (without man) the page's own text
        assert f"{name}({section})" in proc.stdout or f'.TH "{name}" "{section}"' in proc.stdout, proc.stdout[:500]
    if not shutil.which("man"):
        return
    for _, name, section in pages:
        # man-db searches PREFIX/share/man for each PREFIX/bin on PATH: `man sendguard` just works
        proc = subprocess.run(["man", "-w", str(section), name], env=env, capture_output=True, text=True, check=False)
        expected = dist.venv / "share" / "man" / f"man{section}" / f"{name}.{section}"
        assert Path(proc.stdout.strip()) == expected, proc.stderr


def test_the_installed_review_app_starts(dist):
    from tests.support.terminal import Terminal

    env = {**clean_env(dist.venv), "TERM": "xterm-256color"}
    with Terminal(env, "packaging-review", width=100, height=30) as term:
        term.start(f"{dist.bin('sendguard')} review")
        term.wait_for("Nothing here.", 60)
        term.keys("q")
        assert "EXIT=0" in term.wait_for("EXIT=", 30)


def test_an_install_under_another_prefix_finds_its_hooks_and_man_pages(dist, tmp_path):
    """Debian's own pip installs into /usr/local, where its sys.prefix is /usr; ``--user`` and
    ``--prefix DIR`` do the same elsewhere: the data files are under the prefix the package went to.
    Here the prefix's scripts run on the python of a venv that has no sendguard data."""
    package = next(dist.prefix.rglob("sendguard/__init__.py")).parent
    scripts = next(dist.prefix.rglob("bin/sendguard")).parent
    data = package.parents[3]  # PREFIX/lib/pythonX.Y/site-packages/sendguard
    env = {**clean_env(), "PYTHONPATH": str(package.parent), "MANPAGER": "cat", "PAGER": "cat"}
    env["PATH"] = f"{scripts}{os.pathsep}{env['PATH']}"
    code = "import sys, sendguard; print(sendguard.__file__); print(sys.prefix)"
    python = dist.bare / "bin" / "python"
    proc = subprocess.run([python, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    module, prefix = proc.stdout.splitlines()
    assert Path(module).is_relative_to(dist.prefix) and Path(prefix) == dist.bare, proc.stdout
    assert not (dist.bare / "share").exists()

    sendguard = scripts / "sendguard"
    proc = subprocess.run([sendguard, "man", "config"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "sendguard.toml(5)" in proc.stdout or '.TH "sendguard.toml" "5"' in proc.stdout, proc.stdout[:500]
    if shutil.which("git"):
        proc = subprocess.run([sendguard, "setup", "--dry-run"], env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert f"cp {data / 'share' / 'sendguard' / 'hooks' / 'sendemail-validate'} " in proc.stdout, proc.stdout
