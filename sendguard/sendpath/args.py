"""The sendmail command line, parsed into an immutable value — and nothing else.

Callers differ (measured on Debian 12): mutt passes ``[-B8BITMIME] [-f FROM] --
RCPT...``, aerc only ``RCPT...``, git send-email ``[-f FROM] -i RCPT...``. msmtp and sendmail
accept more (``-t``, ``-oi``, ``-oem``, ``-F``, ``-N``, ``-R``, ``-V``, ``-C``, ``-a``, long
options). Every option token is kept verbatim in ``options`` so the transport receives exactly
what the caller wrote; recipients are kept apart, so that one beginning with ``-`` can be put
after ``--`` and never reaches the transport as an option.
"""

from __future__ import annotations

from typing import NamedTuple

from sendguard.errors import UsageError

# Options that take a value, either attached (-fFROM) or as the next word (-f FROM).
# -f/-r sender, -F full name, -N DSN notify, -R DSN return, -V envid, -B body type, -h hop
# count, -O option, -L syslog label, -A alternate config; msmtp: -C config file, -a account,
# -X log file. (Not -q: its value is optional and attached, "-q1h"; msmtp rejects it anyway.)
VALUE_OPTIONS = frozenset("frFNRVBhOLCaXA")

# msmtp long options that take a value as the next word when written without '=' (getopt's
# required arguments). Those whose value is optional (--tls[=on], --auth[=...], --auto-from,
# --syslog, --set-*-header, --remove-bcc-headers, --undisclosed-recipients) take one only when
# attached with '=', and --read-envelope-from takes none: the next word is a recipient, and
# must be judged as one (checked against msmtp 1.8.23).
LONG_VALUE_OPTIONS = frozenset(
    {
        "--file",
        "--account",
        "--host",
        "--port",
        "--from",
        "--domain",
        "--user",
        "--passwordeval",
        "--tls-trust-file",
        "--logfile",
        "--timeout",
        "--dsn-notify",
        "--dsn-return",
        "--maildomain",
        "--protocol",
        "--proxy-host",
        "--proxy-port",
        "--source-ip",
        "--socket",
        "--aliases",
        "--logfile-time-format",
        "--tls-key-file",
        "--tls-cert-file",
        "--tls-crl-file",
        "--tls-fingerprint",
        "--tls-priorities",
        "--tls-host-override",
        "--tls-min-dh-prime-bits",
        "--configure",
        "--rmqs",
    }
)


class UnsupportedMode(UsageError):
    """A sendmail mode sendguard does not offer (-bv, -bs, -bd...): nothing is read or kept."""


# The modes sendguard offers besides sending, and the names of some it does not (for the error).
_MODE_NAMES = {
    "bv": "verify addresses",
    "bs": "SMTP on stdin",
    "bd": "run as a daemon",
    "bi": "rebuild aliases",
    "bt": "test addresses",
    "bh": "host status",
    "bH": "purge host status",
    "bD": "run as a daemon",
    "bP": "print queue counts",
}


def _unsupported(word: str) -> UnsupportedMode:
    name = _MODE_NAMES.get(word.lstrip("-")[:2])
    what = f"{word} ({name})" if name else word
    return UnsupportedMode(f"{what} is not offered: sendguard sends mail (-bm), lists its queue (-bp) and runs it (-q)")


class SendmailArgs(NamedTuple):
    """What the caller asked for. (A NamedTuple: immutable like a frozen dataclass, without the
    per-class code generation @dataclass costs on every mail.)"""

    options: tuple[str, ...] = ()
    """Every option word as given (values included), in order; passed to the transport."""
    recipients: tuple[str, ...] = ()
    """The recipients named on the command line."""
    read_recipients: bool = False
    """-t: take recipients from To/Cc/Bcc as well."""
    sender: str | None = None
    """-f / -r: the envelope sender."""
    mode: str = "send"
    """What to do: ``send`` (-bm, the default), ``help``, ``version``, ``list`` (-bp), ``run`` (-q)."""

    def to_argv(self) -> list[str]:
        """A command line that parses back to this value; recipients always after ``--``."""
        return [*self.options, "--", *self.recipients] if self.recipients else list(self.options)


def parse(argv: list[str]) -> SendmailArgs:
    """Parse sendmail-style arguments (without the program name). Never mutates ``argv``."""
    options: list[str] = []
    recipients: list[str] = []
    read_recipients = False
    sender = None
    mode = "send"
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            recipients.extend(argv[i:])
            break
        if word.startswith("--"):
            options.append(word)
            if "=" not in word and word in LONG_VALUE_OPTIONS:
                if i >= len(argv):
                    raise UsageError(f"option {word} needs a value")
                options.append(argv[i])
                i += 1
                if word == "--from":
                    sender = argv[i - 1]
            elif word.startswith("--from="):
                sender = word.partition("=")[2]
            elif word == "--read-recipients":  # msmtp's long -t
                read_recipients = True
            elif word in ("--help", "--version"):
                mode = word[2:]
            continue
        if not word.startswith("-") or word == "-":
            recipients.append(word)
            continue
        # Flags combine as with getopt ("-it" is -i -t): skip leading no-value flags, noting -t,
        # up to the first flag that takes the rest of the word (or the next word) as its value.
        options.append(word)
        pos = 1
        while pos < len(word) - 1 and word[pos] not in VALUE_OPTIONS and word[pos] not in "obq":
            read_recipients = read_recipients or word[pos] == "t"
            pos += 1
        flag = word[pos]
        if flag in VALUE_OPTIONS:
            if len(word) > pos + 1:
                value = word[pos + 1 :]
            elif i < len(argv):
                value = argv[i]
                options.append(value)
                i += 1
            else:
                raise UsageError(f"option {word} needs a value")
            if flag in "fr":
                sender = value
        elif flag == "t":
            read_recipients = True
        elif flag == "b":
            if word[pos:] == "bp":
                mode = "list"
            elif word[pos:] != "bm":
                raise _unsupported(word)
        elif flag == "q":  # -q, -q1h, -qf, -qR...: deliver what is due, once
            mode = "run"
    return SendmailArgs(tuple(options), tuple(recipients), read_recipients, sender, mode)


def refuse_control_characters(args: SendmailArgs) -> SendmailArgs:
    """``args``, or UsageError when an option word holds a control character (C0 or DEL).
    msmtp writes values such as -f's into the SMTP dialogue, where a line break starts a command
    of its own: ``-f 'me@x>\r\nRCPT TO:<evil@y'`` added a recipient nobody judged."""
    for word in args.options:
        bad = sorted({c for c in word if c < " " or c == "\x7f"})
        if bad:
            shown = word.encode("unicode_escape").decode("ascii")
            raise UsageError(
                f"the option word {shown} contains {', '.join(repr(c) for c in bad)}; "
                "no sendmail option holds a control character"
            )
    for word in (*args.options, *args.recipients):
        try:
            word.encode("utf-8")
        except UnicodeEncodeError:  # its bytes are not UTF-8 (Python holds them as surrogates)
            shown = word.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise UsageError(f"the argument {shown} is not UTF-8 text; an address is written in UTF-8") from None
    return args


def without_read_recipients(options: tuple[str, ...] | list[str]) -> list[str]:
    """The option words without -t / --read-recipients: sendguard hands the transport the
    recipients it checked, explicitly, and never lets it read more from the headers.

    Combined flags lose only their "t" ("-ti" becomes "-i"); option values are kept as they are."""
    out: list[str] = []
    words = list(options)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--read-recipients":
            continue
        if word.startswith("--"):
            out.append(word)
            if "=" not in word and word in LONG_VALUE_OPTIONS and i < len(words):
                out.append(words[i])
                i += 1
            continue
        if not word.startswith("-") or word == "-":
            out.append(word)
            continue
        pos = 1
        while pos < len(word) - 1 and word[pos] not in VALUE_OPTIONS and word[pos] not in "obq":
            pos += 1
        flags, rest = word[1:pos], word[pos:]
        if rest == "t":
            rest = ""
        kept = flags.replace("t", "") + rest
        if kept:
            out.append("-" + kept)
        if rest[:1] in VALUE_OPTIONS and len(rest) == 1 and i < len(words):
            out.append(words[i])  # the value, as the next word
            i += 1
    return out
