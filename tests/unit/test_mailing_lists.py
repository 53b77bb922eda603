"""Mailing lists as the history learns them, and the audience a list already shows."""

from __future__ import annotations

import email
import sqlite3
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendguard.config import schema as config_mod
from sendguard.history.store import open_read_only, path_in
from sendguard.mail.lists import list_addresses
from sendguard.mail.message import NOT_IN_BARE_ADDRESS
from sendguard.model import Severity
from tests.support import history_fixtures as hf
from tests.support.content_fixtures import CONFIG, findings_of, run_check

LKML = "linux-kernel@vger.kernel.org"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"List-Post": "<mailto:dev@lists.example.org>"}, ["dev@lists.example.org"]),
        ({"List-Post": "<mailto:Dev@Lists.Example.org?subject=help>"}, ["dev@lists.example.org"]),
        ({"List-Id": "Linux kernel <linux-kernel.vger.kernel.org>"}, [LKML]),
        ({"List-Id": "<notmuch.notmuchmail.org>"}, ["notmuch@notmuchmail.org"]),
        # the posting address wins over the guess from the list's label
        (
            {"List-Id": "<alsa-devel.alsa-project.org>", "List-Post": "<mailto:alsa@alsa-project.org>"},
            ["alsa@alsa-project.org"],
        ),
        ({"List-Post": "NO (posting not allowed)"}, []),
        ({"List-Post": "<https://example.org/post>"}, []),
        ({"List-Id": "no brackets.example.org"}, []),
        ({"List-Id": "<localonly>"}, []),
        ({}, []),
    ],
)
def test_list_addresses_come_from_the_list_headers(headers, expected):
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name] = value
    assert list_addresses(msg) == expected


@given(st.text(max_size=200), st.text(max_size=200))
def test_list_addresses_never_raise_and_are_bare_addresses(post, list_id):
    raw = f"List-Post: {post}\nList-Id: {list_id}\n\nbody\n".encode("utf-8", "surrogateescape")
    found = list_addresses(email.message_from_bytes(raw))
    assert len(found) <= 4
    for addr in found:
        assert addr.count("@") >= 1 and not set(addr) & NOT_IN_BARE_ADDRESS


def _list_mail(i: int) -> bytes:
    return (
        f"From: Maintainer {i} <dev{i}@kernel.example>\nTo: {LKML}\n"
        f"Message-ID: <list{i}@kernel.example>\nDate: Mon, 2 Nov 2026 10:0{i}:00 +0000\n"
        f"List-Id: <linux-kernel.vger.kernel.org>\nSubject: [PATCH {i}/3] fix the driver\n\n"
        "A patch to the list.\n"
    ).encode()


def _series(to: str) -> bytes:
    cc = ", ".join(f"Maintainer {i} <m{i}@host{i % 11}.example>" for i in range(22))
    return (
        f"From: d.wolff@nordwerk.example\nTo: {to}\nCc: {cc}\nSubject: [PATCH 0/2] a fix\n"
        "Message-ID: <series@nordwerk.example>\nDate: Tue, 3 Nov 2026 10:00:00 +0000\n\nThe cover letter.\n"
    ).encode()


def _learn(state, messages, config: str = CONFIG) -> None:  # type: ignore[no-untyped-def]
    hf.learn_into(state, messages, config_mod.parse(config))


def test_a_series_to_a_list_the_user_reads_shows_its_cc_to_nobody_new(tmp_path):
    state = tmp_path / "state"
    _learn(state, [_list_mail(i) for i in range(3)])
    assert not findings_of(run_check(_series(LKML), state), "audience-size")


def test_the_same_cc_without_a_list_is_held(tmp_path):
    state = tmp_path / "state"
    _learn(state, [_list_mail(i) for i in range(3)])
    found = findings_of(run_check(_series("client@kundenfirma.example"), state), "audience-size")
    assert [f.severity for f in found] == [Severity.HOLD]


def test_an_address_only_written_to_is_no_list(tmp_path):
    state = tmp_path / "state"
    _learn(state, [_series(LKML)])  # the user's own post: no list header, so nothing says it is one
    found = findings_of(run_check(_series(LKML), state), "audience-size")
    assert [f.severity for f in found] == [Severity.HOLD]


def test_a_history_from_before_the_lists_table_knows_no_list(tmp_path):
    state = tmp_path / "state"
    _learn(state, [_list_mail(i) for i in range(3)])
    db = sqlite3.connect(path_in(state))
    db.execute("DROP TABLE lists")
    db.commit()
    db.close()
    store = open_read_only(state)
    assert store is not None and store.lists([LKML]) == set()
    found = findings_of(run_check(_series(LKML), state), "audience-size")
    assert [f.severity for f in found] == [Severity.HOLD]
    _learn(state, [_list_mail(5)])  # the next write brings the table back
    assert not findings_of(run_check(_series(LKML), state), "audience-size")


def _patch(i: int, to: str, cc: str, day: int) -> bytes:
    return (
        f"From: Joe <joe@perches.example>\nTo: {to}\nCc: {cc}\nMessage-ID: <p{i}.{to}@perches.example>\n"
        f"Date: Mon, {day} Nov 2026 10:00:00 +0000\nSubject: [PATCH {i}/9] remove unnecessary semicolons\n\n"
        "Unnecessary semicolons after switch and if blocks removed; no functional change.\n"
    ).encode()


def _list_post(addr: str, i: int) -> bytes:
    label, _, domain = addr.partition("@")
    return (
        f"From: Someone {i} <someone{i}@kernel.example>\nTo: {addr}\nMessage-ID: <{label}{i}@kernel.example>\n"
        f"Date: Sun, 1 Nov 2026 10:0{i}:00 +0000\nList-Id: <{label}.{domain}>\nSubject: a post\n\nText.\n"
    ).encode()


@pytest.mark.parametrize("lists_known", [True, False])
def test_a_patch_to_one_known_list_is_no_mistake_for_another(tmp_path, lists_known):
    state = tmp_path / "state"
    scsi, usb = "linux-scsi@vger.kernel.org", "linux-usb@vger.kernel.org"
    known = [_list_post(a, i) for a in (scsi, usb) for i in range(3)] if lists_known else []
    series = [_patch(i, scsi, f"{LKML}, maint@scsi.example", 2 + i) for i in range(8)]
    config = CONFIG.replace("d.wolff@nordwerk.example", "joe@perches.example")
    _learn(state, known + series + [_patch(9, usb, "greg@usb.example", 12)], config)
    found = findings_of(run_check(_patch(10, usb, f"{LKML}, maint@scsi.example", 20), state, config), "namesake")
    holds = [f for f in found if f.severity is Severity.HOLD]
    if lists_known:
        assert holds == []
    else:  # two addresses nothing says are lists: judged as people, as before
        assert [f.suggestion for f in holds] == [scsi]
