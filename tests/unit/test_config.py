"""The configuration: one typed model; every problem named with file, line, key and a suggestion."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.config.schema import Config, documented_keys, load, parse
from sendguard.errors import ConfigError
from sendguard.model import Action
from tests.conftest import make_message, sendguard_exe

CONTRACT_EXAMPLE = """\
[identity]
addresses = ["d.wolff@nordwerk.example"]        # the user's own addresses

[organization]
domains = ["nordwerk.example"]                  # internal mail

[clients.kundenfirma]                           # one table per client
domains = ["kundenfirma.example"]
keywords = ["Falke", "Kundenfirma"]             # project and company names

[transport]
command = ["msmtp"]                             # sendmail options are appended

[sendmail]
hold_action = "reject"                          # or "queue"

[rules.external-recipient]                      # every rule: [rules.ID]
action = "hold"                                 # off | warn | hold | block

[allow]
addresses = []                                  # never held for who they are
domains = []
"""


def problems_of(text: str, file: str = "c.toml") -> list[tuple[int | None, str, str, str | None]]:
    with pytest.raises(ConfigError) as info:
        parse(text, file)
    assert all(p.file == file for p in info.value.problems)
    return [(p.line, p.key, p.problem, p.suggestion) for p in info.value.problems]


def test_the_contract_example_loads_into_the_typed_model():
    config = parse(CONTRACT_EXAMPLE)
    assert config.identity.addresses == ["d.wolff@nordwerk.example"]
    assert config.organization.domains == ["nordwerk.example"]
    assert config.clients["kundenfirma"].keywords == ["Falke", "Kundenfirma"]
    assert config.transport.command == ["msmtp"]
    assert config.sendmail.hold_action == "reject"
    assert config.actions() == {"external-recipient": Action.HOLD}
    assert config.allow.addresses == []


def test_the_embedded_default_is_used_without_a_file(tmp_path):
    config = load(tmp_path / "missing.toml")
    assert config == Config()
    assert config.transport.command == ["msmtp"]
    assert config.sendmail.hold_action == "reject"
    assert config.sendmail.confirm_window == 600


def test_an_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "missing.toml", required=True)
    assert "missing.toml" in str(info.value) and info.value.exit_code == 78


def test_defaults_are_not_shared_between_instances():
    one, two = Config(), Config()
    one.allow.addresses.append("x@y.example")
    assert two.allow.addresses == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[sendmail]\nhold_acton = "queue"\n', (2, "sendmail.hold_acton", "unknown key", "hold_action")),
        ('\n[transprt]\ncommand = ["msmtp"]\n', (2, "transprt", "unknown section", "transport")),
        (
            '[rules.externl-recipient]\naction = "hold"\n',
            (1, "rules.externl-recipient", "no such rule", "external-recipient"),
        ),
        ('[rules."external-recipient"]\naction = "hodl"\n', (2, "rules.external-recipient.action", None, "hold")),
        ("[rules.audience-size]\ntreshold = 3\n", (2, "rules.audience-size.treshold", "unknown key", "threshold")),
        ('[sendmail]\nhold_action = "queu"\n', (2, "sendmail.hold_action", None, "queue")),
        ('[clients.acme]\ndomain = ["acme.example"]\n', (2, "clients.acme.domain", "unknown key", "domains")),
    ],
    ids=["key", "section", "rule", "action", "rule-option", "literal", "client-key"],
)
def test_unknown_names_get_file_line_key_and_the_nearest_valid_one(text, expected):
    ((line, key, problem, suggestion),) = problems_of(text)
    assert (line, key, suggestion) == (expected[0], expected[1], expected[3])
    if expected[2]:
        assert problem == expected[2]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('[sendmail]\nconfirm_window = "ten"\n', "sendmail.confirm_window", "an integer"),
        ("[sendmail]\nconfirm_window = true\n", "sendmail.confirm_window", "an integer"),  # bool is no int
        ('[sendmail]\nnotify = "yes"\n', "sendmail.notify", "true or false"),
        ('[transport]\ncommand = "msmtp -a work"\n', "transport.command", "a list of strings"),
        ('[transport]\ncommand = ["msmtp", 3]\n', "transport.command", "a list of strings"),
        ('[transport]\ntimeout = "5"\n', "transport.timeout", "a number"),
        ('[allow]\ndomains = "a.example"\n', "allow.domains", "a list of strings"),
        ("[rules.audience-size]\nthreshold = 2.5\n", "rules.audience-size.threshold", "an integer"),
        ('[sendmail]\nhold_action = "bounce"\n', "sendmail.hold_action", "'reject' or 'queue'"),
        ("identity = 3\n", "identity", "must be a table"),
        ("rules = 3\n", "rules", "must be tables"),
    ],
)
def test_wrong_types_and_values_say_what_was_expected(text, key, expected):
    ((_line, got_key, problem, _suggestion),) = problems_of(text)
    assert got_key == key
    assert expected in problem


def test_good_values_of_each_type_are_accepted():
    config = parse(
        "[transport]\ntimeout = 5\n[sendmail]\nnotify = false\nconfirm_window = 60\n"
        '[rules.audience-size]\nthreshold = 4\naction = "off"\n'
    )
    assert config.transport.timeout == 5
    assert config.sendmail.notify is False
    assert config.rule_option("audience-size", "threshold") == 4
    assert config.actions() == {"audience-size": Action.OFF}


def test_all_problems_are_reported_at_once():
    text = textwrap.dedent("""\
        [sendmail]
        hold_acton = "queue"
        confirm_window = "ten"

        [transprt]
        command = ["msmtp"]

        [rules.audience-size]
        action = "hodl"
        """)
    got = problems_of(text)
    assert [(line, key) for line, key, _, _ in got] == [
        (2, "sendmail.hold_acton"),
        (3, "sendmail.confirm_window"),
        (5, "transprt"),
        (9, "rules.audience-size.action"),
    ]
    with pytest.raises(ConfigError) as info:
        parse(text, "c.toml")
    assert str(info.value).startswith("4 configuration errors")


def test_toml_syntax_error_names_file_and_line():
    ((line, key, problem, _),) = problems_of('[sendmail]\nhold_action = "queue\n')
    assert line == 2 and key == "(syntax)"
    assert "line 2" in problem


def test_an_unclosed_array_is_reported_where_it_opened():
    text = textwrap.dedent("""\
        # sendguard
        [identity]
        addresses = ["me@nordwerk.example"]  # me, [not an array]

        [organization]
        domains = ["nordwerk.example"]
        note = "a [bracket] in a string"
        other = '''[
        '''
        [clients.kundenfirma]
        domains = [
            "kundenfirma.example",  # ]
            "kundenfirma.de"

        [transport]
        command = ["msmtp"]
        """)
    ((line, key, problem, _),) = problems_of(text)
    assert (line, key) == (11, "(syntax)")
    assert problem.startswith("this array is never closed (the parser noticed at line 15")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet="ab[]{}#=\"' ", max_size=6), max_size=3), min_size=1, max_size=5),
    st.data(),
)
def test_any_unclosed_multiline_array_is_reported_on_its_own_line(arrays, data):
    lines, opened = ["[section]"], []
    for n, items in enumerate(arrays):
        opened.append(len(lines) + 1)
        lines.append(f"key{n} = [")
        lines += [f"    {json.dumps(item)}," for item in items]
        lines.append("]")
    broken = data.draw(st.integers(0, len(arrays) - 1))
    closing = opened[broken] + len(arrays[broken]) + 1  # the line of its "]"
    del lines[closing - 1]
    if broken == len(arrays) - 1:
        lines.append("after = 1")  # something after it that cannot be an element
    ((line, _key, problem, _),) = problems_of("\n".join(lines) + "\n")
    assert line == opened[broken], problem


def test_every_key_is_documented():
    keys = documented_keys()
    assert {"sendmail.hold_action", "transport.command", "organization.domains", "clients.NAME.keywords"} <= {
        k[0] for k in keys
    }
    undocumented = [name for name, _type, _default, doc in keys if not doc.strip()]
    assert undocumented == []


# ---- through the command line: exit 78 -------------------------------------------------------

BROKEN = '[sendmail]\nhold_acton = "queue"\n\n[transprt]\ncommand = ["msmtp"]\n'


def run(*args: str, input: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), input=input.decode(), capture_output=True, text=True, timeout=60, check=False)


def test_cli_config_validate_exits_78_with_every_problem(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(BROKEN)
    proc = run(sendguard_exe(), "--config", str(conf), "config", "validate")
    assert proc.returncode == 78
    assert proc.stdout == ""
    assert f"{conf}:2: sendmail.hold_acton: unknown key (did you mean 'hold_action'?)" in proc.stderr
    assert f"{conf}:4: transprt: unknown section (did you mean 'transport'?)" in proc.stderr


def test_cli_config_validate_ok(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(CONTRACT_EXAMPLE)
    proc = run(sendguard_exe(), "--config", str(conf), "config", "validate")
    assert proc.returncode == 0, proc.stderr


def test_check_with_broken_default_config_exits_78(tmp_path, isolated_home):
    conf = isolated_home / "config" / "sendguard" / "config.toml"
    conf.parent.mkdir()
    conf.write_text(BROKEN)
    msg = tmp_path / "m.eml"
    msg.write_bytes(make_message())
    proc = run(sendguard_exe(), "check", str(msg))
    assert proc.returncode == 78
    assert "hold_acton" in proc.stderr and "config.toml:2" in proc.stderr


def test_a_config_too_big_or_a_fifo_is_one_config_error(tmp_path):
    """`--config /dev/zero` read until memory ran out (sendguard-sendmail was killed, exit -9),
    and a FIFO waited for a writer forever; nothing in between limited either."""
    import os

    big = tmp_path / "big.toml"
    big.write_text("# a comment\n" * 100_000)  # 1.2 MB
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path, problem in (
        (big, "is larger than 1024 KiB: is it the config file?"),
        ("/dev/zero", "is larger than 1024 KiB: is it the config file?"),
        (fifo, "is a FIFO or a socket, not a config file"),
    ):
        proc = run(sendguard_exe(), "--config", str(path), "config", "validate")
        assert proc.returncode == 78, proc.stderr
        assert proc.stderr == f"sendguard: error: {path}: (file): {problem}\n"


def test_missing_explicit_config_exits_78(tmp_path):
    proc = run(sendguard_exe(), "--config", str(tmp_path / "nope.toml"), "config", "validate")
    assert proc.returncode == 78
    assert "nope.toml" in proc.stderr


def test_sendmail_with_broken_config_exits_78_and_keeps_the_message(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(BROKEN)
    proc = subprocess.run(
        [sendguard_exe(), "--config", str(conf), "sendmail", "anna@kundenfirma.example"],
        input=make_message(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 78
    assert proc.stdout == b""
    assert b"hold_acton" in proc.stderr and b"kept as" in proc.stderr


# Every way TOML lets one write [sendmail] hold_action = 5; "@" marks the line it is on.
_WAYS = [
    "[sendmail] # my settings\n@hold_action = 5\n",
    "[ sendmail ]\n@  hold_action   =   5\n",
    "['sendmail']\n@'hold_action' = 5\n",
    '["sendmail"]\n@"hold_action" = 5\n',
    "@sendmail.hold_action = 5\n",
    "@sendmail = { notify = false, hold_action = 5 }\n",
    "[sendmail]\nnotify = false\n@hold_action = 5 # reject\n",
]
# Lines that must not be taken for it: comments, other tables, a multi-line string holding it.
_NOISE = [
    "# hold_action = 5\n",
    '[oops]\nmanager = """\nhold_action = 5\n[sendmail]\n"""\n',
    "[drafts]\nmaildir = '''\nsendmail.hold_action = 5'''\n",
    '[identity]\naddresses = [\n  "a@b.example",  # ]\n]\n',
    '[clients.acme]\ndomains = ["acme.example"]\n',
    "[delay]\nseconds = 0\n",
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_WAYS), st.lists(st.sampled_from(_NOISE), unique=True, max_size=4), st.data())
def test_a_bad_value_is_reported_on_its_own_line_however_it_is_written(way, noise, data):
    split = data.draw(st.integers(0, len(noise)))
    # a top-level dotted key or inline table must come before any [table]
    text = "".join([way, *noise] if way.startswith("@") else [*noise[:split], way, "\n", *noise[split:]])
    expected = next(n for n, line in enumerate(text.split("\n"), 1) if line.startswith("@"))
    ((line, key, _problem, _),) = problems_of(text.replace("@", ""))
    assert (line, key) == (expected, "sendmail.hold_action")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[clients]\nacme.domains = 5\n", 2, "clients.acme.domains"),
        ("[clients]\nacme = { domains = 5 }\n", 2, "clients.acme.domains"),
        ('\nrules = { external-recipient = { action = "x" } }\n', 2, "rules.external-recipient.action"),
        ("\nsendmial.notify = false\n", 2, "sendmial"),
    ],
)
def test_dotted_keys_and_inline_tables_are_located(text, line, key):
    ((got_line, got_key, _problem, _),) = problems_of(text)
    assert (got_line, got_key) == (line, key)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[transport]\ntimeout = 0\n", "transport.timeout"),  # every delivery "took too long"
        ("[transport]\ntimeout = -1.0\n", "transport.timeout"),
        ("[transport]\ntimeout = nan\n", "transport.timeout"),
        ("[transport]\ntimeout = inf\n", "transport.timeout"),
        ("[check]\nbudget = nan\n", "check.budget"),  # no bound on the check at all
        ("[delay]\nseconds = 10000000000000\n", "delay.seconds"),  # past the year 9999
        ("[delay]\noutside_seconds = -30\n", "delay.outside_seconds"),
        ("[sendmail]\nconfirm_window = -1\n", "sendmail.confirm_window"),
        ("[queue]\nkeep_days = -1\n", "queue.keep_days"),  # would drop what oops needs at once
        ("[milter]\nworkers = -2\n", "milter.workers"),
        ("[judgement]\nfalse_holds = 5\n", "judgement.false_holds"),  # a share: 5 would hold all mail
        ("[judgement]\nfalse_holds = -0.01\n", "judgement.false_holds"),
    ],
)
def test_numbers_out_of_their_range_are_config_errors(text, key):
    ((line, got_key, problem, _),) = problems_of(text)
    assert (line, got_key) == (2, key)
    assert problem.startswith("expected a number from ")


def test_sendmail_with_a_zero_transport_timeout_exits_78_and_keeps_the_message(world):
    """It was taken: every delivery then 'took longer than 0 s', and each message was left
    interrupted, 'may or may not have left'; an infinite one was an internal error."""
    text = world.config_path.read_text().replace("[transport]\n", "[transport]\ntimeout = 0\n")
    world.config_path.write_text(text)
    proc = world.send(make_message(), "anna@kundenfirma.example")
    assert proc.returncode == 78, proc.stderr
    assert b"transport.timeout" in proc.stderr and b"Traceback" not in proc.stderr
    assert world.server.received == []
    rows = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert [r["state"] for r in rows] == ["held"]


@pytest.mark.parametrize("key", ["sent.maildir", "drafts.maildir", "milter.state_dir"])
def test_a_path_under_a_user_that_does_not_exist_is_a_config_error(key):
    """pathlib's expanduser raised RuntimeError where the path was used: after a release had
    delivered the message (the Sent copy), in oops (the drafts), in learn --as (the milter's
    state): a traceback each."""
    table, name = key.split(".")
    ((line, where, problem, _),) = problems_of(f'[{table}]\n{name} = "~no-such-user-here/Mail"\n')
    assert (line, where) == (2, key)
    assert (
        problem
        == "'~no-such-user-here/Mail': there is no user 'no-such-user-here' on this machine (~/ is your own home)"
    )
    for fine in ("~/Mail", "~root/Mail", "/srv/mail"):
        parse(f'[{table}]\n{name} = "{fine}"\n', "c.toml")


@pytest.mark.parametrize("value", ["[]", '[""]', '["  ", "-C", "x"]'])
def test_a_transport_command_must_name_a_program(value):
    """An empty one was taken, and every message then went to a transport called '--'."""
    ((line, key, problem, _),) = problems_of(f"[transport]\ncommand = {value}\n")
    assert (line, key) == (2, "transport.command")
    assert problem.startswith("expected a program")


@pytest.mark.parametrize(
    ("raw", "line", "what"),
    [
        (b'[identity]\nname = "Jos\xe9"\n', 2, "not UTF-8 (byte 0xe9 at column 12)"),  # Latin-1
        (b"[sendmail]\nnotify = false\n# caf\xc3\n", 3, "not UTF-8 (byte 0xc3 at column 6)"),
        (b"\xef\xbb\xbf[sendmail]\nnotify = false\n", 1, "starts with a byte order mark"),
    ],
)
def test_a_file_that_is_not_plain_utf8_is_named_with_its_line(tmp_path, raw, line, what):
    path = tmp_path / "config.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        load(path, required=True)
    ((problem),) = caught.value.problems
    assert (problem.file, problem.line) == (str(path), line)
    assert problem.problem.startswith(what)


def test_a_directory_as_config_is_a_one_line_config_error(tmp_path):
    (tmp_path / "config.toml").mkdir()
    proc = run(sendguard_exe(), "--config", str(tmp_path / "config.toml"), "config", "validate")
    assert proc.returncode == 78
    assert proc.stderr.strip().splitlines() == [
        f"sendguard: error: {tmp_path / 'config.toml'}: (file): cannot be read: Is a directory"
    ]


@pytest.mark.parametrize(
    ("text", "key", "problem", "suggestion"),
    [
        ('hold_action = "queue"\n', "hold_action", "a key outside any [table]", "sendmail.hold_action"),
        ("[sendmail]\nseconds = 30\n", "sendmail.seconds", "unknown key", "delay.seconds"),
        ('[delay]\nhold_action = "queue"\n', "delay.hold_action", "unknown key", "sendmail.hold_action"),
        (
            'addresses = ["me@nordwerk.example"]\n',
            "addresses",
            "a key outside any [table]",
            "identity.addresses' or 'allow.addresses' or 'block.addresses",
        ),
    ],
)
def test_a_key_in_the_wrong_table_is_pointed_to_where_it_belongs(text, key, problem, suggestion):
    """They said only 'unknown section' or 'unknown key', with nothing near to suggest."""
    ((_line, got_key, got_problem, got_suggestion),) = problems_of(text)
    assert (got_key, got_problem, got_suggestion) == (key, problem, suggestion)
