"""Internationalised and malformed headers never crash the send path (exit 70): they are sent,
held or refused, each with a reason. bench/fuzz_sendmail.py runs the same shapes thousands of times."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.act import queue as q
from sendguard.sendpath.path import SendPath
from tests.support import intl_mail

RECORDING = "#!/bin/sh\ncat > /dev/null\n"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(rng=st.randoms(use_true_random=False))
def test_internationalised_headers_never_crash_the_send_path(tmp_path_factory, rng):
    root = tmp_path_factory.mktemp("intl")
    transport = root / "transport"
    transport.write_text(RECORDING)
    transport.chmod(0o700)
    config = root / "config.toml"
    config.write_text(
        '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
        f'[transport]\ncommand = ["{transport}"]\n[sendmail]\nnotify = false\n[log]\nenabled = false\n'
    )
    argv, raw = intl_mail.message(rng)
    err = io.StringIO()
    code = SendPath(config, err, queue=q.Queue(root / "queue")).run(argv, io.BytesIO(raw))
    assert code != 70, err.getvalue()
    assert "internal-error" not in err.getvalue() and "Traceback" not in err.getvalue()
    for entry in q.Queue(root / "queue").entries():
        assert not [f for f in entry.meta.get("findings", []) if f["rule"] == "internal-error"], entry.meta


def test_the_examples_from_the_audit_do_not_crash(tmp_path):
    from tests.integration.test_queue import run_send_path

    for raw in (
        "From: Jürgen Müller ‹jürgen@müller.example>\nTo: anna@kundenfirma.example\nSubject: x\n\nhi\n".encode(),
        "From: a@nordwerk.example\nTo: anna@kundenfirma.example\nSubject: =?ütf-8?q?x?=\n\nhi\n".encode(),
        "From: Jürgen Müller <jürgen@müller.example>\nTo: Åse <åse@müller.example>\nSubject: x\n\nhi\n".encode(),
    ):
        root = tmp_path / str(abs(hash(raw)))
        root.mkdir()
        code, delivered, kept = run_send_path(root, raw, ["-t"])
        assert code in (0, 75), (code, raw)
