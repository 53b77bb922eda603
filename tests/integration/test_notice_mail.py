"""The notice mail: a hold a mail program cannot show reaches the person's own inbox.

Real parts: sendguard-sendmail called as aerc calls it (stderr is /dev/null), the real msmtp,
and the aiosmtpd server on 127.0.0.1 standing in for the person's mail provider. The notice
is mailed by a detached process; each test waits until every such process of its own world is
gone before it counts what arrived, so a second notice would have been counted.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess

import pytest

from sendguard import paths
from sendguard.act import notices
from tests.conftest import make_message
from tests.support.isolated import notice_mailers
from tests.support.wait import wait_until

WRONG = "anna@kundenfirrna.example"
MEANT = "anna@kundenfirma.example"
ME = "me@nordwerk.example"


def notice_mail_on(world, extra: str = "") -> None:  # type: ignore[no-untyped-def]
    text = world.config_path.read_text().replace("notice_mail = false", "notice_mail = true")
    world.config_path.write_text(text + extra)


def as_aerc(world, raw: bytes, *args: str, env: dict[str, str] | None = None) -> int:  # type: ignore[no-untyped-def]
    """sendguard-sendmail as aerc runs it: the recipients as arguments, stderr thrown away."""
    proc = subprocess.run(
        [world.sendmail, *(args or (WRONG,))],
        input=raw,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env or world.env(),
        timeout=60,
        check=False,
    )
    return proc.returncode


def settled(world) -> list:  # type: ignore[no-untyped-def,type-arg]
    """What the server received, once no notice mailer of this world is left at work."""
    assert wait_until(lambda: not notice_mailers(), 60), "a notice mailer never ended"
    return list(world.server.received)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)  # type: ignore[return-value]


def claim_of(entry_id: str) -> dict:  # type: ignore[type-arg]
    """The notice mail's claim on a kept message; {} while there is none (or it is being written)."""
    try:
        return json.loads((paths.state_dir() / "queue" / entry_id / "notice-mail.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def held_entries() -> list[dict]:  # type: ignore[type-arg]
    return [
        json.loads(p.read_text()) | {"id": p.parent.name} for p in (paths.state_dir() / "queue").glob("*/meta.json")
    ]


def test_a_hold_aerc_cannot_show_is_mailed_to_the_person_once(world):
    notice_mail_on(world)
    raw = make_message(to=WRONG)
    assert as_aerc(world, raw) == 75
    assert wait_until(lambda: len(world.server.received) == 1), "no notice arrived"
    (entry,) = held_entries()
    assert entry["state"] == "held"
    # aerc's resend: held again (no new copy), and no second notice
    assert as_aerc(world, raw) == 75
    assert [n["kind"] for n in notices.take(paths.state_dir())] == ["held", "held-again"]
    (got,) = settled(world)
    assert got.rcpt_tos == [ME], "to the person alone; the held message itself never left"
    mail = parse(got.data)
    assert mail["To"] == ME and mail["From"] == f"sendguard <{ME}>"
    assert mail["Subject"] == "Held, not sent: Falke status"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["X-Sendguard-Notice"] == "held"
    text = mail.get_content()
    flat = " ".join(text.split())
    (finding,) = [f for f in entry["findings"] if f["severity"] == "hold"]
    assert " ".join(finding["message"].split()).rstrip(".") in flat, text
    assert f"did you mean {MEANT}?" in flat
    assert f"Id: {entry['id']}" in flat
    assert f"sendguard release {entry['id']}" in text and f"sendguard discard {entry['id']}" in text
    assert "sendguard review" in text and ":term" not in text, "aerc's :term only when aerc called"
    assert "send it again unchanged" not in flat and "does not send it" in flat
    claim = json.loads((paths.state_dir() / "queue" / entry["id"] / "notice-mail.json").read_text())
    assert claim["to"] == ME and claim["outcome"] == "sent"


def test_the_notice_goes_to_the_identity_the_message_is_from(world):
    notice_mail_on(world)
    world.config_path.write_text(
        world.config_path.read_text().replace(f'addresses = ["{ME}"]', f'addresses = ["{ME}", "dana@nordwerk.example"]')
    )
    assert as_aerc(world, make_message(to=WRONG, sender="Dana <Dana@nordwerk.example>")) == 75
    (got,) = [m for m in settled(world)]
    assert got.rcpt_tos == ["dana@nordwerk.example"]


def test_a_block_names_discard_and_no_release(world):
    notice_mail_on(world, '\n[rules.lookalike-domain]\naction = "block"\n')
    assert as_aerc(world, make_message(to=WRONG, subject="Angebot")) == 77
    (got,) = settled(world)
    mail = parse(got.data)
    assert mail["Subject"] == "Blocked, not sent: Angebot" and mail["X-Sendguard-Notice"] == "blocked"
    (entry,) = held_entries()
    text = mail.get_content()
    assert f"sendguard discard {entry['id']}" in text and "release" not in text


def test_a_block_sent_again_is_the_same_block_with_no_second_notice_mail(world):
    notice_mail_on(world, '\n[rules.lookalike-domain]\naction = "block"\n')
    raw = make_message(to=WRONG, subject="Angebot")
    assert as_aerc(world, raw) == 77
    assert as_aerc(world, raw) == 77, "y again in aerc"
    assert [e["state"] for e in held_entries()] == ["blocked"], "one copy"
    assert [n["kind"] for n in notices.take(paths.state_dir())] == ["blocked", "blocked-again"]
    (got,) = settled(world)
    assert parse(got.data)["X-Sendguard-Notice"] == "blocked"


@pytest.mark.parametrize(
    "how",
    ["a terminal shows stderr", "notice_mail = false", "no identity address"],
)
def test_no_notice_mail_where_the_hold_is_seen_or_none_is_wanted(world, how):
    if how == "notice_mail = false":
        code = as_aerc(world, make_message(to=WRONG))
    elif how == "no identity address":
        notice_mail_on(world)
        world.config_path.write_text(world.config_path.read_text().replace(f'addresses = ["{ME}"]', "addresses = []"))
        code = as_aerc(world, make_message(to=WRONG))
    else:
        notice_mail_on(world)
        proc = world.send(make_message(to=WRONG), WRONG)  # stderr is a pipe the caller reads
        code = proc.returncode
        assert f"Did you mean {MEANT}?" in proc.stderr.decode()
    assert code == 75
    assert settled(world) == []
    (entry,) = held_entries()
    assert not (paths.state_dir() / "queue" / entry["id"] / "notice-mail.json").exists()


def test_a_transport_that_fails_leaves_a_notice_and_changes_nothing_else(world, tmp_path):
    notice_mail_on(world)
    broken = tmp_path / "broken-msmtp"
    broken.write_text("#!/bin/sh\ncat >/dev/null\necho 'msmtp: cannot connect to smtp.example' >&2\nexit 69\n")
    broken.chmod(0o755)
    world.config_path.write_text(
        world.config_path.read_text().replace(
            f'command = ["msmtp", "-C", "{world.msmtprc}"]', f'command = ["{broken}"]'
        )
    )
    assert as_aerc(world, make_message(to=WRONG)) == 75
    assert settled(world) == []
    (entry,) = held_entries()
    assert entry["state"] == "held"
    taken = notices.take(paths.state_dir())
    assert [n["kind"] for n in taken] == ["held", "notice-mail-failed"]
    assert "cannot connect to smtp.example" in " ".join(taken[1]["body"])
    assert entry["id"] in taken[1]["title"]


def test_the_resident_checker_mails_it_after_its_answer(world, monkeypatch):
    from sendguard.sendpath import client as resident

    monkeypatch.delenv("SENDGUARD_RESIDENT", raising=False)
    notice_mail_on(world)
    world.config_path.write_text(
        world.config_path.read_text().replace("[sendmail]\n", "[sendmail]\nresident_idle = 60\n")
    )
    try:
        assert world.send(make_message(subject="first of the day")).returncode == 0  # starts the checker
        assert wait_until(lambda: resident.running_server(paths.state_dir() / resident.PID_FILE), 60)
        assert as_aerc(world, make_message(to=WRONG, subject="through the checker")) == 75
        # the checker starts the mailer after its answer: there may be none to wait for yet
        (held,) = [e for e in held_entries() if e["state"] == "held"]
        assert wait_until(lambda: "outcome" in claim_of(held["id"]), 60), "the checker never mailed it"
        got = [m for m in settled(world) if m.rcpt_tos == [ME]]
    finally:
        assert resident.stop_servers(str(world.config_path), timeout=20)
    (entry,) = [e for e in held_entries() if e["state"] == "held"]
    assert entry["checker"] == "resident"
    assert len(got) == 1 and parse(got[0].data)["Subject"] == "Held, not sent: through the checker"


def test_a_hold_the_resident_checker_kept_and_never_answered_is_mailed_once(world, monkeypatch):
    """The checker is killed right after keeping the held copy: the client finishes that entry
    itself, and the notice mail the checker would have started after its answer goes out."""
    import os
    import sys

    from sendguard import faults
    from sendguard.sendpath import client as resident

    monkeypatch.delenv("SENDGUARD_RESIDENT", raising=False)
    notice_mail_on(world)
    env = world.env()
    checker = subprocess.Popen(
        [sys.executable, "-m", "sendguard.sendpath.server", str(world.config_path)],
        env=dict(env, **{faults.ENV: "after-kept"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        where = resident.socket_path(str(world.config_path))
        assert wait_until(lambda: os.path.exists(where) or checker.poll() is not None, 60)
        assert checker.poll() is None, "the checker did not start"
        assert as_aerc(world, make_message(to=WRONG, subject="kept, then killed"), env=env) == 75
        assert checker.wait(timeout=60) == -9, "the checker was killed after keeping it"
        got = [m for m in settled(world) if m.rcpt_tos == [ME]]
    finally:
        if checker.poll() is None:
            checker.kill()
        resident.stop_servers(str(world.config_path), timeout=20)  # the one the client started
    (entry,) = held_entries()
    assert entry["checker"] == "resident" and entry["state"] == "held"
    assert len(got) == 1 and parse(got[0].data)["Subject"] == "Held, not sent: kept, then killed"
