"""git send-email with a 3-patch series → sendguard-sendmail (sendemail.sendmailCmd) → msmtp.

git calls the sendmail command once per patch as ``sh -c 'CMD "$@"' -f FROM -i RCPT...`` and stops
the series at the first non-zero exit; Bcc is passed in argv only. hooks/sendemail-validate
judges every patch's content before the first leaves and stops the whole series.
"""

from __future__ import annotations

import pytest

from tests.support.mua import HOLD_EXTERNAL, git_repo, git_send_email, header_names, held_row, queue_rows

pytestmark = pytest.mark.slow

FILES = {"a.txt": "one\n", "b.txt": "two\n", "c.txt": "three\n"}


def test_series_passes_whole_and_bcc_stays_out_of_the_headers(world, tmp_path):
    repo, env = git_repo(world, tmp_path, FILES)
    proc = git_send_email(
        repo, env, 3, "--to=anna@kundenfirma.example", "--bcc=boss@nordwerk.example", "--suppress-cc=self"
    )
    assert proc.returncode == 0, proc.stderr
    got = world.server.received
    assert len(got) == 3
    for mail in got:
        assert sorted(mail.rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
        assert "bcc" not in header_names(mail.data)
        assert mail.mail_from == "me@nordwerk.example"
    subjects = [next(line for line in m.data.decode().splitlines() if line.startswith("Subject:")) for m in got]
    assert subjects == [f"Subject: [PATCH {i}/3] Add {n}" for i, n in enumerate(FILES, 1)]


def test_held_first_patch_stops_the_series_and_release_delivers_it(world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    repo, env = git_repo(world, tmp_path, FILES)
    proc = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example")
    assert proc.returncode != 0
    assert world.server.received == [], "git stops the series at the first held patch"
    row = held_row(world)
    # git reaches its sendmail-command error through Email::Valid (libemail-valid-perl in .ci/setup)
    assert "Email/Valid.pm" not in proc.stderr
    assert row["id"] in proc.stderr, "the person sees sendguard's reason and the way out"
    assert row["subject"] == "[PATCH 1/3] Add a.txt"
    assert len(queue_rows(world)) == 1, "patches 2 and 3 were never handed to sendguard"
    assert world.cli("release", row["id"]).returncode == 0
    assert len(world.server.received) == 1


def test_single_patch_is_confirmed_by_sending_it_again(world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    repo, env = git_repo(world, tmp_path, {"a.txt": "one\n"})
    assert git_send_email(repo, env, 1, "--to=anna@kundenfirma.example").returncode != 0
    assert world.server.received == []
    again = git_send_email(repo, env, 1, "--to=anna@kundenfirma.example")
    assert again.returncode == 0, again.stderr
    assert len(world.server.received) == 1


def test_validate_hook_refuses_the_series_when_sendguard_cannot_check(world, tmp_path):
    # fail closed: a broken config makes `sendguard check` exit 78; the hook stops every patch
    repo, env = git_repo(world, tmp_path, FILES)
    # the hook finds sendguard beside sendemail.sendmailCmd, with no help from PATH or $SENDGUARD
    del env["SENDGUARD"]
    env["PATH"] = "/usr/bin:/bin"
    world.config_path.write_text("[sendmail]\nhold_acton = 1\n")
    proc = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example")
    assert proc.returncode != 0
    assert world.server.received == []
    assert "sendguard" in proc.stderr and "hold_acton" in proc.stderr
    world.write_config()
    assert queue_rows(world) == [], "the series never reached sendguard-sendmail"


def test_validate_hook_stops_the_series_on_a_private_key_in_patch_two(world, tmp_path):
    key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "QyNTUxOQAAACBXQm9nZ2V0aGF0c2hvdWxkbm90bGVhdmV0aGVob3VzZQAAAJgAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    repo, env = git_repo(world, tmp_path, {"a.txt": "one\n", "id_ed25519": key, "c.txt": "three\n"})
    probe = world.cli("check", "--envelope", "me@nordwerk.example", str(repo / "id_ed25519"))
    if probe.returncode < 2:
        pytest.skip("no content rule holds an OpenSSH private key yet")
    proc = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example")
    assert proc.returncode != 0
    assert world.server.received == [], "the hook runs for every patch before the first is sent"
    assert "series is stopped" in proc.stderr


def test_a_series_held_for_its_recipients_is_confirmed_by_sending_it_again(world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    repo, env = git_repo(world, tmp_path, FILES)
    assert git_send_email(repo, env, 3, "--to=anna@kundenfirma.example").returncode != 0
    again = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example")
    assert again.returncode == 0, again.stderr
    assert len(world.server.received) == 3, "patch 1 confirmed once, patches 2 and 3 ride on it"
    subjects = sorted(r.data.split(b"Subject: ", 1)[1].split(b"\n", 1)[0] for r in world.server.received)
    assert len(set(subjects)) == 3, "every patch delivered exactly once"


def test_dry_run_runs_the_validate_hook_but_sends_nothing(world, tmp_path):
    repo, env = git_repo(world, tmp_path, FILES)
    world.config_path.write_text("[sendmail]\nhold_acton = 1\n")  # the hook fails closed on it
    refused = git_send_email(repo, env, 3, "--dry-run", "--to=anna@kundenfirma.example")
    assert refused.returncode != 0 and "hold_acton" in refused.stderr, "the hook ran"
    world.write_config()
    dry = git_send_email(repo, env, 3, "--dry-run", "--to=anna@kundenfirma.example")
    assert dry.returncode == 0, dry.stderr
    assert world.server.received == [] and queue_rows(world) == [], "sendguard-sendmail was never called"
    assert (dry.stdout + dry.stderr).count("Dry-OK") == 3
