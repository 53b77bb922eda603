"""The send path end to end: sendguard-sendmail → real msmtp → aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import json

from tests.conftest import make_message


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def test_passing_message_is_delivered_byte_for_byte(world):
    msg = make_message()
    proc = world.send(msg, "--", "anna@kundenfirma.example")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    (got,) = world.server.received
    assert crlf(got.data) == msg
    assert got.rcpt_tos == ["anna@kundenfirma.example"]


def test_envelope_is_the_argv_not_the_headers(world):
    # mutt passes Bcc only in argv: the envelope has it, the message does not.
    msg = make_message(to="anna@kundenfirma.example")
    proc = world.send(msg, "-f", "me@nordwerk.example", "--", "anna@kundenfirma.example", "boss@nordwerk.example")
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
    assert got.mail_from == "me@nordwerk.example"


def test_blocked_recipient_exits_77_and_keeps_the_message(world):
    world.write_config('[block]\naddresses = ["anna@kundenfirma.example"]\n')
    msg = make_message()
    proc = world.send(msg, "anna@kundenfirma.example")
    assert proc.returncode == 77
    assert proc.stdout == b""
    assert b"BLOCKED" in proc.stderr
    assert world.server.received == []
    rows = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert [r["state"] for r in rows] == ["blocked"]


def test_held_message_is_kept_explained_and_released_once(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    msg = make_message()
    proc = world.send(msg, "-i", "anna@kundenfirma.example")
    assert proc.returncode == 75
    assert world.server.received == []
    err = proc.stderr.decode()
    assert "HELD" in err and "sendguard release" in err
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "held" and row["recipients"] == ["anna@kundenfirma.example"]
    assert world.cli("release", row["id"]).returncode == 0
    second = world.cli("release", row["id"])
    assert second.returncode != 0 and "delivered" in second.stderr
    (got,) = world.server.received
    assert crlf(got.data) == msg


def test_sending_the_identical_message_again_confirms_a_hold(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    first = make_message()
    assert world.send(first, "anna@kundenfirma.example").returncode == 75
    # mutt regenerates Date and Message-ID on the second attempt
    again = first.replace(b"09:00:00", b"09:01:30").replace(b"<test-", b"<retry-")
    proc = world.send(again, "anna@kundenfirma.example")
    assert proc.returncode == 0, proc.stderr
    assert len(world.server.received) == 1
    assert crlf(world.server.received[0].data) == again
    third = world.send(again, "anna@kundenfirma.example")
    assert len(world.server.received) == 1, "a confirmation is used once"
    assert third.returncode == 0 and b"already sent \xe2\x80\x94 not sent twice." in third.stderr


def test_a_held_message_sent_again_after_its_release_is_not_said_to_be_held(world):
    """Released in review from mutt's compose menu, then y in the composer: the check holds it
    again, and mutt's pager said "HELD - not sent" with a way to send it that sends it twice."""
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    message = make_message()
    assert world.send(message, "anna@kundenfirma.example").returncode == 75
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert world.cli("release", row["id"]).returncode == 0
    again = world.send(message, "anna@kundenfirma.example")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith(b"sendguard: already sent \xe2\x80\x94 not sent twice.\n")
    assert b"this message already left at " in again.stderr and b"HELD" not in again.stderr
    assert len(world.server.received) == 1


def test_hold_action_queue_exits_0_and_delivers_nothing_until_released(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    text = world.config_path.read_text().replace("notify = false", 'notify = false\nhold_action = "queue"')
    world.config_path.write_text(text)
    proc = world.send(make_message(), "anna@kundenfirma.example")
    assert proc.returncode == 0
    assert world.server.received == []
    assert world.cli("queue", "run").returncode == 0
    assert world.server.received == [], "queue run never delivers a held message"
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert world.cli("release", row["id"]).returncode == 0
    assert len(world.server.received) == 1


def test_recipient_starting_with_dash_never_becomes_an_option(world):
    proc = world.send(make_message(to="x@kundenfirma.example"), "--", "-oQ@kundenfirma.example")
    # msmtp sees it after "--" as an address; the server gets it as a recipient, never as a flag.
    assert proc.returncode == 0, proc.stderr
    assert world.server.received[0].rcpt_tos == ["-oQ@kundenfirma.example"]


def test_dead_transport_keeps_message_deferred_and_queue_run_delivers_it(world):
    port = world.server.port
    world.msmtprc.write_text(world.msmtprc.read_text().replace(f"port {port}", "port 9"))
    msg = make_message()
    proc = world.send(msg, "anna@kundenfirma.example")
    assert proc.returncode == 75, proc.stderr
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "deferred"
    world.msmtprc.write_text(world.msmtprc.read_text().replace("port 9", f"port {port}"))
    run = world.cli("queue", "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert world.cli("queue", "run").returncode == 0
    assert len(world.server.received) == 1
    assert crlf(world.server.received[0].data) == msg


def test_refused_recipient_passes_the_transport_code_through(world):
    world.server.refuse.add("nobody@kundenfirma.example")
    proc = world.send(make_message(to="nobody@kundenfirma.example"), "nobody@kundenfirma.example")
    assert proc.returncode not in (0, 75)
    assert b"kept as" in proc.stderr
    rows = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert [r["state"] for r in rows] == ["failed"]


def test_broken_config_exits_78_names_the_key_and_keeps_the_message(world):
    world.config_path.write_text('[sendmail]\nhold_acton = "queue"\n')
    proc = world.send(make_message(), "anna@kundenfirma.example")
    assert proc.returncode == 78
    err = proc.stderr.decode()
    assert "config.toml:2" in err and "hold_acton" in err and "hold_action" in err
    assert "kept as" in err
    assert world.server.received == []
    # the list names it by its subject, before and after the config is fixed and review checks it
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["subject"] == "Falke status"
    world.write_config()
    from sendguard import paths
    from sendguard.act.queue import Queue
    from sendguard.config.schema import load
    from sendguard.recover.fix import refresh_stale

    state = paths.state_dir()
    assert refresh_stale(Queue(state / "queue"), load(world.config_path), state) == [row["id"]]
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert (row["subject"], row["state"]) == ("Falke status", "held")
    # checked again, nothing holds it: the list says so, and the way out, instead of no reason
    from sendguard.recover.review_data import queue_rows

    listed = world.cli("queue", "list").stdout
    assert "nothing holds it now" in listed and f"sendguard release {row['id']}" in listed, listed
    (shown,) = queue_rows(Queue(state / "queue"), 0.0)
    assert shown.reason.startswith("nothing holds it now") and shown.reason.endswith(": r sends it")
    from sendguard.recover.review_data import message_view
    from sendguard.tui.render import detail

    assert (
        "nothing holds it now" in detail(message_view(Queue(state / "queue"), row["id"], load(world.config_path))).plain
    )


def test_a_confirmed_hold_covers_its_thread_but_not_new_reasons(world):
    # git send-email: one call per patch, each In-Reply-To the first; it stops at the first hold.
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    first = make_message(subject="[PATCH 1/2] a", extra_headers="Message-ID: <p1@x>\n")
    first = first.replace(b"Message-ID: <test-", b"X-Old-ID: <test-")
    assert world.send(first, "anna@kundenfirma.example").returncode == 75
    assert world.send(first, "anna@kundenfirma.example").returncode == 0, "confirmed by resending"
    second = make_message(subject="[PATCH 2/2] b", extra_headers="In-Reply-To: <p1@x>\nReferences: <p1@x>\n")
    assert world.send(second, "anna@kundenfirma.example").returncode == 0, "rides on the confirmed first patch"
    other_rcpt = make_message(
        to="bob@kundenfirma.example", subject="[PATCH 2/2] b", extra_headers="In-Reply-To: <p1@x>\n"
    )
    assert world.send(other_rcpt, "bob@kundenfirma.example").returncode == 75, "different recipients: held"
    world.write_config(
        '[rules.external-recipient]\naction = "hold"\n[block]\naddresses = ["carl@kundenfirma.example"]\n'
    )
    blocked = make_message(
        to="anna@kundenfirma.example, carl@kundenfirma.example",
        subject="[PATCH 2/2] b",
        extra_headers="In-Reply-To: <p1@x>\n",
    )
    assert world.send(blocked, "anna@kundenfirma.example", "carl@kundenfirma.example").returncode == 77
    assert len(world.server.received) == 2


def test_no_recipients_anywhere_says_where_it_looked(world):
    # without recipient arguments the headers are read, -t or not: "use -t" would send the
    # person looking for a flag that changes nothing
    raw = b"From: me@nordwerk.example\nSubject: cron\n\nno To line\n"
    for args in (["-t"], ["-oi"]):
        proc = world.send(raw, *args)
        assert proc.returncode == 64
        err = proc.stderr.decode()
        assert "no recipients" in err and "To, Cc or Bcc" in err and "use -t" not in err, err
    assert world.server.received == []
