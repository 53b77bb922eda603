"""The sendmail command line: the three real call shapes, msmtp's extras, usage errors, round-trip.

Call shapes as measured on Debian 12 (summarised here so the
tests stand alone): mutt/neomutt ``[-B8BITMIME] [-f FROM] [-N DSN -R RET] -- RCPT...``, aerc
``RCPT...``, git send-email ``[-f FROM] -i RCPT...``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendguard.errors import UsageError
from sendguard.sendpath.args import LONG_VALUE_OPTIONS, VALUE_OPTIONS, SendmailArgs, UnsupportedMode, parse
from tests.conftest import make_message

# ---- the three real callers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "options", "recipients", "sender"),
    [
        # mutt, default: only "--" and the recipients (Bcc is among them, not in the message)
        (
            ["--", "anna@kundenfirma.example", "boss@nordwerk.example"],
            (),
            ("anna@kundenfirma.example", "boss@nordwerk.example"),
            None,
        ),
        # mutt with 8-bit body and $use_envelope_from
        (
            ["-B8BITMIME", "-f", "me@nordwerk.example", "--", "anna@kundenfirma.example"],
            ("-B8BITMIME", "-f", "me@nordwerk.example"),
            ("anna@kundenfirma.example",),
            "me@nordwerk.example",
        ),
        # mutt with DSN
        (
            ["-N", "failure,delay", "-R", "hdrs", "--", "anna@kundenfirma.example"],
            ("-N", "failure,delay", "-R", "hdrs"),
            ("anna@kundenfirma.example",),
            None,
        ),
        # aerc: recipients only, no "--", no -i
        (
            ["anna@kundenfirma.example", "bcc@kundenfirma.example"],
            (),
            ("anna@kundenfirma.example", "bcc@kundenfirma.example"),
            None,
        ),
        # git send-email via sendemail.sendmailCmd
        (
            ["-f", "me@nordwerk.example", "-i", "dev@lists.example", "anna@kundenfirma.example"],
            ("-f", "me@nordwerk.example", "-i"),
            ("dev@lists.example", "anna@kundenfirma.example"),
            "me@nordwerk.example",
        ),
        # git send-email via sendemail.smtpServer=/abs/path
        (["-i", "dev@lists.example"], ("-i",), ("dev@lists.example",), None),
    ],
    ids=["mutt", "mutt-8bit-from", "mutt-dsn", "aerc", "git-sendmailcmd", "git-smtpserver"],
)
def test_real_call_shapes(argv, options, recipients, sender):
    args = parse(argv)
    assert args.options == options
    assert args.recipients == recipients
    assert args.sender == sender
    assert args.read_recipients is False


def test_parse_does_not_mutate_argv():
    argv = ["-f", "me@nordwerk.example", "--", "a@b.example"]
    copy = list(argv)
    parse(argv)
    assert argv == copy


# ---- what msmtp and sendmail accept besides ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "options", "recipients"),
    [
        (["-t"], ("-t",), ()),  # recipients from the headers only
        (["-t", "-i", "extra@x.example"], ("-t", "-i"), ("extra@x.example",)),  # -t merges with argv
        (["-oi", "-oem", "a@x.example"], ("-oi", "-oem"), ("a@x.example",)),  # mutt users write these
        (["-oQ/var/spool", "a@x.example"], ("-oQ/var/spool",), ("a@x.example",)),  # any -oX is one word
        (["-F", "Me Myself", "a@x.example"], ("-F", "Me Myself"), ("a@x.example",)),  # full name, separate
        (["-FMe", "a@x.example"], ("-FMe",), ("a@x.example",)),  # full name, attached
        (["-V", "envid42", "a@x.example"], ("-V", "envid42"), ("a@x.example",)),
        (["-Nnever", "-Rfull", "a@x.example"], ("-Nnever", "-Rfull"), ("a@x.example",)),
        (
            ["-C", "/home/u/.msmtprc", "-a", "work", "a@x.example"],
            ("-C", "/home/u/.msmtprc", "-a", "work"),
            ("a@x.example",),
        ),  # msmtp config and account
        (["-awork", "a@x.example"], ("-awork",), ("a@x.example",)),
        (["--account=work", "--tls=on", "a@x.example"], ("--account=work", "--tls=on"), ("a@x.example",)),
        (["--account", "work", "a@x.example"], ("--account", "work"), ("a@x.example",)),  # long, value apart
        (["--read-recipients", "a@x.example"], ("--read-recipients",), ("a@x.example",)),  # long flag, no value
        (["-bm", "a@x.example"], ("-bm",), ("a@x.example",)),  # deliver mail: the default mode
        (["-v", "a@x.example"], ("-v",), ("a@x.example",)),  # unknown single flags pass through
        (["-f", "-weird-sender", "a@x.example"], ("-f", "-weird-sender"), ("a@x.example",)),  # a value may start with -
        (["a@x.example", "-i", "b@x.example"], ("-i",), ("a@x.example", "b@x.example")),  # interleaved
        (
            ["--", "-oQ@x.example", "--", "b@x.example"],
            (),
            ("-oQ@x.example", "--", "b@x.example"),
        ),  # after --: all recipients
        (["-"], (), ("-",)),  # a lone "-" is not an option
        ([], (), ()),
    ],
)
def test_msmtp_and_sendmail_options(argv, options, recipients):
    args = parse(argv)
    assert args.options == options
    assert args.recipients == recipients


def test_minus_t_sets_read_recipients():
    assert parse(["-t"]).read_recipients is True
    assert parse(["-ti"]).read_recipients is True  # combined flags as sendmail writes them
    assert parse(["-i"]).read_recipients is False


@pytest.mark.parametrize(
    ("argv", "sender"),
    [
        (["-f", "me@x.example"], "me@x.example"),
        (["-fme@x.example"], "me@x.example"),
        (["-r", "me@x.example"], "me@x.example"),  # -r is the old spelling of -f
        (["-f", "a@x.example", "-f", "b@x.example"], "b@x.example"),  # the last one wins, as in msmtp
    ],
)
def test_sender(argv, sender):
    assert parse(argv).sender == sender


# ---- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-f"],  # value missing at the end
        ["a@x.example", "-C"],
        ["-N"],
        ["--account"],  # long option missing its value
        ["-bs", "a@x.example"],  # SMTP on stdin
        ["-bv", "a@x.example"],
    ],
)
def test_usage_errors(argv):
    with pytest.raises(UsageError) as info:
        parse(argv)
    assert info.value.exit_code == 64
    assert argv[-1].lstrip("-")[:1] in info.value.message or "-b" in info.value.message


@pytest.mark.parametrize(
    ("argv", "mode"),
    [
        (["--help"], "help"),
        (["--version"], "version"),
        (["-bp"], "list"),
        (["-q"], "run"),
        (["-q1h"], "run"),  # an interval: sendguard runs the queue once
        (["-oi", "-qf"], "run"),
        (["-bm", "a@x.example"], "send"),
        (["-i", "a@x.example"], "send"),
        (["--", "--help"], "send"),  # a recipient, however odd
    ],
)
def test_modes(argv, mode):
    assert parse(argv).mode == mode


@pytest.mark.parametrize("argv", [["-bv", "a@x.example"], ["-bs"], ["-bd"], ["-bi"], ["-b"], ["-ibt"]])
def test_unsupported_modes_say_which(argv):
    with pytest.raises(UnsupportedMode) as info:
        parse(argv)
    assert info.value.exit_code == 64
    assert argv[0] in info.value.message and "-bp" in info.value.message


def test_usage_error_through_the_executable_exits_64_and_keeps_the_message(world):
    proc = world.send(b"Subject: x\n\nbody\n", "-f")
    assert proc.returncode == 64
    assert proc.stdout == b""
    assert b"kept as" in proc.stderr
    assert world.server.received == []


# ---- round trip -------------------------------------------------------------------------------

_address = st.from_regex(r"[A-Za-z0-9._+-]{1,12}@[a-z0-9-]{1,10}\.example", fullmatch=True)
_word = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_value_flag = st.sampled_from(sorted(VALUE_OPTIONS)).filter(lambda f: f != "b")
_option = st.one_of(
    st.sampled_from(["-i", "-t", "-oi", "-oem", "-v", "-bm", "-B8BITMIME", "--read-recipients", "-ti"]),
    st.tuples(_value_flag, _word).map(lambda fv: ["-" + fv[0], fv[1]]),  # -f VALUE
    st.tuples(_value_flag, _word.filter(lambda w: w[0] != " ")).map(lambda fv: "-" + fv[0] + fv[1]),  # -fVALUE
    st.tuples(st.sampled_from(sorted(LONG_VALUE_OPTIONS)), _word).map(lambda kv: [kv[0], kv[1]]),
    st.tuples(st.sampled_from(sorted(LONG_VALUE_OPTIONS)), _word).map(lambda kv: f"{kv[0]}={kv[1]}"),
)


def _flatten(items: list[str | list[str]]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        out.extend(item if isinstance(item, list) else [item])
    return tuple(out)


@given(options=st.lists(_option, max_size=6), recipients=st.lists(st.one_of(_address, _word), max_size=5))
def test_parse_of_to_argv_round_trips(options, recipients):
    args = parse([*_flatten(options), "--", *recipients])
    assert parse(args.to_argv()) == args
    assert args.recipients == tuple(recipients)  # after "--" everything is a recipient, even "-x"


@given(argv=st.lists(st.one_of(_address, st.sampled_from(["-i", "-t", "-oi", "--", "-f", "me@x.example"])), max_size=8))
def test_any_accepted_argv_round_trips(argv):
    try:
        args = parse(argv)
    except UsageError:
        return
    assert parse(args.to_argv()) == args


def test_to_argv_puts_dash_recipients_after_double_dash():
    args = SendmailArgs(options=("-i",), recipients=("-oQ@x.example",))
    assert args.to_argv() == ["-i", "--", "-oQ@x.example"]
    assert parse(args.to_argv()) == args


@pytest.mark.parametrize(
    ("argv", "read", "sender"),
    [
        (["-it"], True, None),  # getopt-style combination, either order
        (["-ti"], True, None),
        (["-itf", "me@x.example"], True, "me@x.example"),  # the last flag takes the next word
        (["-itfme@x.example"], True, "me@x.example"),
        (["-ibm"], False, None),
    ],
)
def test_combined_flags(argv, read, sender):
    args = parse(argv)
    assert (args.read_recipients, args.sender, args.recipients) == (read, sender, ())
    assert args.options == tuple(argv)


# ---- the envelope that is judged, through the real send path ----------------------------------


def _blocked_config(address: str) -> str:
    return f'[block]\naddresses = ["{address}"]\n'


HEADERS = (
    b"From: me@nordwerk.example\nTo: anna@kundenfirma.example\nCc: cc@kundenfirma.example\n"
    b"Bcc: secret@kundenfirma.example\nSubject: x\n\nbody\n"
)


@pytest.mark.parametrize(
    ("argv", "judged"),
    [
        # mutt and git: Bcc only in argv (the message has none); argv is the envelope
        (["--", "anna@kundenfirma.example", "secret@kundenfirma.example"], True),
        # aerc: every recipient in argv, Bcc also left in the message
        (["anna@kundenfirma.example", "cc@kundenfirma.example", "secret@kundenfirma.example"], True),
        # -t: To/Cc/Bcc count as well as argv
        (["-t"], True),
        (["-t", "extra@kundenfirma.example"], True),
        # argv given and no -t: header recipients are not the envelope (msmtp would not send to them)
        (["anna@kundenfirma.example"], False),
    ],
)
def test_the_envelope_is_what_is_judged(tmp_path, argv, judged):
    from tests.integration.test_queue import run_send_path

    code, delivered, kept = run_send_path(tmp_path, HEADERS, argv, _blocked_config("secret@kundenfirma.example"))
    if judged:
        assert (code, delivered, kept) == (77, [], [HEADERS])
    else:
        # delivered without its Bcc field: a blind copy never reaches the recipients
        assert (code, delivered, kept) == (0, [HEADERS.replace(b"Bcc: secret@kundenfirma.example\n", b"")], [])


def test_comma_separated_argv_recipients_are_each_judged(tmp_path):
    from tests.integration.test_queue import run_send_path

    code, delivered, _ = run_send_path(
        tmp_path,
        HEADERS,
        ["anna@kundenfirma.example,secret@kundenfirma.example"],
        _blocked_config("secret@kundenfirma.example"),
    )
    assert code == 77 and delivered == []


def test_no_recipients_at_all_is_a_usage_error_and_keeps_the_message(tmp_path):
    from tests.integration.test_queue import run_send_path

    raw = b"From: me@nordwerk.example\nSubject: nobody\n\nbody\n"
    code, delivered, kept = run_send_path(tmp_path, raw, ["-i"])
    assert (code, delivered, kept) == (64, [], [raw])


@pytest.mark.parametrize(
    ("argv", "options", "recipients"),
    [
        # msmtp's optional-argument options take a value only with '=' (getopt): the next word is
        # a recipient, and must be judged as one
        (["--tls", "a@x.example"], ("--tls",), ("a@x.example",)),
        (["--tls=off", "a@x.example"], ("--tls=off",), ("a@x.example",)),
        (["--auth", "a@x.example"], ("--auth",), ("a@x.example",)),
        (["--auto-from", "a@x.example"], ("--auto-from",), ("a@x.example",)),
        (["--remove-bcc-headers", "a@x.example"], ("--remove-bcc-headers",), ("a@x.example",)),
        (["--read-envelope-from", "a@x.example"], ("--read-envelope-from",), ("a@x.example",)),  # no argument at all
        (
            ["--source-ip", "10.0.0.1", "a@x.example"],
            ("--source-ip", "10.0.0.1"),
            ("a@x.example",),
        ),  # required argument
        (["--timeout", "30", "a@x.example"], ("--timeout", "30"), ("a@x.example",)),
    ],
)
def test_msmtp_long_options_with_optional_and_required_values(argv, options, recipients):
    args = parse(argv)
    assert (args.options, args.recipients) == (options, recipients)


def test_long_forms_of_t_and_f():
    assert parse(["--read-recipients"]).read_recipients is True
    assert parse(["--from", "me@x.example"]).sender == "me@x.example"
    assert parse(["--from=me@x.example"]).sender == "me@x.example"


def test_a_recipient_after_an_optional_argument_option_is_judged(tmp_path):
    from tests.integration.test_queue import run_send_path

    code, delivered, _ = run_send_path(
        tmp_path,
        HEADERS,
        ["--remove-bcc-headers", "secret@kundenfirma.example"],
        _blocked_config("secret@kundenfirma.example"),
    )
    assert code == 77 and delivered == []


def test_long_read_recipients_judges_the_headers(tmp_path):
    from tests.integration.test_queue import run_send_path

    code, delivered, _ = run_send_path(
        tmp_path,
        HEADERS,
        ["--read-recipients", "anna@kundenfirma.example"],
        _blocked_config("secret@kundenfirma.example"),
    )
    assert code == 77 and delivered == []


def test_short_options_as_msmtp_reads_them():
    assert parse(["-A", "c", "a@x.example"]).recipients == ("a@x.example",)  # -A takes a value in msmtp
    assert parse(["-q", "a@x.example"]).recipients == ("a@x.example",)  # -q's value is attached or absent


@pytest.mark.parametrize(
    "argv",
    [
        ["-f", "me@nordwerk.example>\r\nRCPT TO:<evil@outside.example"],
        ["-fme@nordwerk.example>\nRCPT TO:<evil@outside.example"],
        ["--from=me@nordwerk.example>\r\nRCPT TO:<evil@outside.example"],
        ["-N", "never\r\nRCPT TO:<evil@outside.example>"],
        ["--domain", "x\r\nRCPT TO:<evil@outside.example>"],
        ["-F", "Me\x1b[2J"],
    ],
    ids=["-f", "-fVALUE", "--from=", "-N", "--domain", "-F-escape"],
)
def test_an_option_with_a_control_character_never_reaches_the_transport(world, argv):
    """msmtp writes -f's value (and --domain's, -N's...) into the SMTP dialogue: a line break
    there was a RCPT TO of its own, to an address nobody judged (the server said 250)."""
    proc = world.send(make_message(to="kai@nordwerk.example"), *argv, "kai@nordwerk.example")
    assert proc.returncode == 64, proc.stderr
    assert b"contains" in proc.stderr and b"control character" in proc.stderr
    assert world.server.received == []
    log = world.root / "msmtp.log"
    assert not log.exists() or log.read_text() == "", "msmtp must not even run"
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "held"
    released = world.cli("release", row["id"])  # nor later, from the kept copy
    assert released.returncode == 64 and "control character" in released.stderr
    assert world.server.received == []


@pytest.mark.parametrize(
    "argv",
    [["j\udcfcrgen@kundenfirma.example"], ["-f", "m\udcfc@nordwerk.example", "kai@nordwerk.example"]],
    ids=["recipient", "-f"],
)
def test_a_word_that_is_not_utf8_is_refused_and_the_message_kept(world, argv):
    """A recipient or -f with a Latin-1 byte (0xfc) ended sendguard-sendmail in a traceback
    (UnicodeEncodeError, exit 1): the fingerprint could not encode it, then neither could the
    kept copy's meta.json, so nothing was kept."""
    from sendguard.act import queue as q

    message = make_message(to="kai@nordwerk.example")
    proc = world.send(message, *argv)
    assert proc.returncode == 64, proc.stderr
    first, kept = proc.stderr.decode().splitlines()
    (bad,) = [word for word in argv if "\udcfc" in word]
    shown = bad.replace("\udcfc", "\\xfc")
    assert first == f"sendguard: error: the argument {shown} is not UTF-8 text; an address is written in UTF-8"
    assert kept.startswith("  Not sent; the message is kept as ")
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "held"
    assert q.Queue.default().get(row["id"]).raw() == message
    released = world.cli("release", row["id"])  # nor later, from the kept copy
    assert released.returncode == 64 and "is not UTF-8 text" in released.stderr
    assert world.server.received == []
