"""Shell completion: the scripts ``sendguard completion SHELL`` prints, driven as each shell would."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import sendguard_exe


def complete_in_bash(*words: str) -> list[str]:
    """Source the bash script in a real bash and ask it to complete ``words`` (the last is partial)."""
    words_text = " ".join(f"'{w}'" for w in words)
    script = (
        f'source <("{sendguard_exe()}" completion bash)\n'
        f"COMP_WORDS=(sendguard {words_text}); COMP_CWORD={len(words)}\n"
        f'_sendguard_completion sendguard\nprintf "%s\\n" "${{COMPREPLY[@]}}"\n'
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_commands_subcommands_and_options():
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    assert complete_in_bash("do") == ["doctor"]
    assert sorted(complete_in_bash("queue", "")) == ["list", "run"]
    assert "--json" in complete_in_bash("check", "--j")
    assert "setup" in complete_in_bash("")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_use_the_same_protocol(shell):
    script = subprocess.run(
        [sendguard_exe(), "completion", shell], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert f"_SENDGUARD_COMPLETE={shell}_complete" in script.replace('"', "")
    env = dict(
        os.environ,
        _SENDGUARD_COMPLETE=f"{shell}_complete",
        COMP_WORDS="sendguard doc",
        COMP_CWORD="1" if shell == "zsh" else "doc",
    )
    out = subprocess.run([sendguard_exe()], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "doctor" in out
    if shutil.which(shell):
        check = subprocess.run(
            [shell, "-n" if shell == "zsh" else "--no-execute", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr


def _script_file(shell: str, tmp_path) -> str:
    path = tmp_path / f"sendguard.{shell}"
    path.write_text(
        subprocess.run(
            [sendguard_exe(), "completion", shell], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    return str(path)


def _shell_env() -> dict[str, str]:
    # The scripts call `sendguard` by name, as an installed one is.
    return dict(os.environ, PATH=f"{os.path.dirname(sendguard_exe())}{os.pathsep}{os.environ.get('PATH', '')}")


def test_fish_completes_with_whole_descriptions(tmp_path):
    fish = shutil.which("fish")
    if not fish:
        pytest.skip("fish is not installed")
    script = _script_file("fish", tmp_path)
    program = (
        f"source {script}; complete -C 'sendguard doc'; "
        "complete -C 'sendguard queue '; complete -C 'sendguard check --j'"
    )
    proc = subprocess.run(
        [fish, "--no-config", "-c", program], capture_output=True, text=True, timeout=60, env=_shell_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split("\t", 1) for line in proc.stdout.splitlines())
    assert set(rows) == {"doctor", "list", "run", "--json"}
    # click's own script cut every description at its first comma ("Check config")
    assert rows["doctor"].startswith("Check config, transport")


def test_zsh_completion_function_offers_commands_and_options(tmp_path):
    zsh = shutil.which("zsh")
    if not zsh:
        pytest.skip("zsh is not installed")
    script = _script_file("zsh", tmp_path)
    # zsh's completion widgets need a line editor; the builtins the script hands its results to
    # are replaced by printers, so the real script runs in the real zsh and its answers are seen.
    program = f"""
compdef() {{ : }}
_describe() {{ print -l -- "${{(@P)3}}" }}
compadd() {{ print -l -- "${{(@P)${{@[-1]}}}}" }}
source {script}
words=(sendguard doc); CURRENT=2; _sendguard_completion
words=(sendguard queue ''); CURRENT=3; _sendguard_completion
words=(sendguard check --j); CURRENT=3; _sendguard_completion
"""
    proc = subprocess.run(
        [zsh, "-f", "-c", program], capture_output=True, text=True, timeout=60, env=_shell_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    names = [line.split(":", 1)[0] for line in proc.stdout.splitlines()]
    assert names == ["doctor", "list", "run", "--json"]


def test_unknown_shell_is_a_usage_error():
    proc = subprocess.run([sendguard_exe(), "completion", "tcsh"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 64 and "tcsh" in proc.stderr


def _kept(state: str, subject: str) -> str:
    from sendguard.act import queue as q
    from tests.conftest import make_message

    entry, lock = q.Queue.default().create(make_message(subject=subject), {"state": state, "subject": subject})
    lock.release()
    return entry.id


def test_release_discard_undo_and_oops_complete_the_ids_they_accept():
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    held, blocked = _kept("held", "Held one"), _kept("blocked", "Blocked one")
    delivered, delayed = _kept("delivered", "Gone"), _kept("delayed", "Waiting")
    waiting = sorted([held, blocked, delayed])  # a message in its undo window can be sent now, too
    assert sorted(complete_in_bash("release", "")) == waiting
    assert sorted(complete_in_bash("discard", "")) == waiting
    assert complete_in_bash("release", held[:-2]) == [held]
    assert complete_in_bash("undo", "") == [delayed]
    assert complete_in_bash("oops", "") == [delivered]
    assert complete_in_bash("forget", "") == [delivered]


def test_oops_completes_a_message_only_the_incident_log_still_has():
    pytest.importorskip("notmuch2")
    import shutil as sh

    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.config import schema as config_mod
    from sendguard.incidents import store
    from sendguard.incidents.record import record

    pruned = _kept("delivered", "Long ago")
    (entry,) = q.Queue.default().entries()
    record(entry, "delivered", config_mod.parse(""))
    store.index_pending(paths.state_dir())
    sh.rmtree(entry.path)  # the queue pruned it; the log keeps it
    env = dict(os.environ, _SENDGUARD_COMPLETE="zsh_complete", COMP_WORDS="sendguard oops ", COMP_CWORD="2")
    out = subprocess.run([sendguard_exe()], env=env, capture_output=True, text=True, timeout=60).stdout
    assert pruned in out.splitlines()
    assert "delivered: Long ago" in out, "zsh shows what the id is"


def test_trust_rule_completes_rule_ids_with_their_descriptions():
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    assert complete_in_bash("trust", "--rule", "look") == ["lookalike-domain"]
    env = dict(os.environ, _SENDGUARD_COMPLETE="zsh_complete", COMP_WORDS="sendguard trust --rule name", COMP_CWORD="3")
    out = subprocess.run([sendguard_exe()], env=env, capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert out[1] == "namesake" and out[2], "the id, then its one-line description"
