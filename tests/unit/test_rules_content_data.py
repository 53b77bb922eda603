"""sensitive-data and secrets: checksums decide, patches count only added lines, evidence is masked
everywhere (findings, ``check --json``, stderr of the send path)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.mail.content import mask, own_text, patch_text
from sendguard.rules.secrets import find_secrets
from sendguard.rules.sensitive_data import find_cards, find_ibans, find_identifiers
from tests.conftest import sendguard_exe
from tests.support.content_fixtures import CONFIG, INSIDE, findings_of, mail, run_check, xlsx

IBAN = "DE89 3704 0044 0532 0130 00"
AWS_ID = "AKIAZ7QF3XJ4LMNB2VQK"
AWS_SECRET = "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"
GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5b"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"


def patch_mail(added: list[str], removed: list[str] = (), context: list[str] = ()) -> bytes:  # type: ignore[assignment]
    lines = [f" {c}" for c in context] + [f"-{r}" for r in removed] + [f"+{a}" for a in added]
    body = (
        "Add the upload helper.\n\nSigned-off-by: D W <d.wolff@nordwerk.example>\n---\n"
        " deploy/upload.py | 2 ++\n\ndiff --git a/deploy/upload.py b/deploy/upload.py\n"
        "--- a/deploy/upload.py\n+++ b/deploy/upload.py\n@@ -1,3 +1,3 @@\n" + "\n".join(lines) + "\n-- \n2.39.5\n"
    )
    return mail(body, to="dev@lists.kundenfirma.example", subject="[PATCH 1/1] deploy: add upload helper")


# --- sensitive-data ------------------------------------------------------------------------------


def test_salary_and_iban_to_outside_holds_and_is_masked(tmp_path):
    body = f"Hallo,\n\nbitte das Gehalt von Tim Roth (Brutto 78.000 EUR) auf dieses Konto:\nIBAN {IBAN}\n"
    result = run_check(mail(body, to="billing@cloudhost.example"), tmp_path)
    (finding,) = findings_of(result, "sensitive-data")
    assert finding.severity.label == "hold"
    assert "IBAN" in finding.message
    assert "3704" not in json.dumps(finding.to_json())


def test_iban_alone_to_outside_warns_and_inside_is_info(tmp_path):
    assert findings_of(run_check(mail(f"Meine IBAN: {IBAN}"), tmp_path), "sensitive-data")[0].severity.label == "warn"
    inside = findings_of(run_check(mail(f"Meine IBAN: {IBAN}", to=INSIDE), tmp_path), "sensitive-data")
    assert inside[0].severity.label == "info"


def test_salary_table_in_a_spreadsheet_holds(tmp_path):
    sheet = xlsx([["Name", "Gehalt"], ["Tim Roth", 78000], ["Lea Vogel", 81000], ["Jan Berg", 69000]])
    raw = mail(
        "anbei",
        attachments=[("liste.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", sheet)],
    )
    (finding,) = findings_of(run_check(raw, tmp_path), "sensitive-data")
    assert finding.severity.label == "hold" and "salaries" in finding.message and "liste.xlsx" in finding.message


@pytest.mark.parametrize(
    "text, rows, figures",
    [
        ("Name\tGehalt\nTim Roth\t78000\nLea Vogel\t81000", 2, 0),  # spreadsheet rows
        ("Salaries:\nTim Roth, 78.000 EUR\nLea Vogel, 81.000 EUR", 2, 0),  # typed list
        ("Gehälter\nRoth, Tim;78000\nVogel, Lea;81000", 2, 0),  # CSV, "Last, First"
        ("Gehalt von Tim Roth (Brutto 78.000 EUR)", 0, 1),  # one person's pay
        ("Salary review 2026\nJan Berg  2021  lead\nLea Vogel  2019  dev", 0, 0),  # years are no amounts
        ("Payroll contact\nEmployee Telephone Number:   713.853.5982", 0, 0),
        ("salary survey\n\t\tSunday, May 13, 2001\nEl Paso built 58,000 miles of pipe", 0, 0),
        ("Tim Roth\t78000\nLea Vogel\t81000", 0, 0),  # no word says salary
    ],
)
def test_salary_tables_and_figures(text, rows, figures):
    from sendguard.rules.sensitive_data import salary_lines

    found_rows, found_figures = salary_lines(text)
    assert (len(found_rows), len(found_figures)) == (rows, figures)


def test_prices_in_an_offer_are_not_salaries(tmp_path):
    body = (
        "Hallo Markus,\n\nKonzeption Phase 2: 12.000 EUR\nUmsetzung Falke App: 48.000 EUR\nGesamt brutto 71.400 EUR\n"
    )
    assert findings_of(run_check(mail(body), tmp_path), "sensitive-data") == []


@pytest.mark.parametrize(
    "text, found",
    [
        (f"IBAN {IBAN}", True),
        ("IBAN DE89370400440532013000", True),
        ("IBAN DE89 3704 0044 0532 0130 01", False),  # checksum fails
        ("GB82 WEST 1234 5698 7654 32", True),
    ],
)
def test_iban_checksum_decides(text, found):
    assert bool(find_ibans(text)) is found


@pytest.mark.parametrize(
    "text, found",
    [
        ("Karte 4556 7375 8689 9855 bitte belasten", True),  # Luhn-valid Visa
        ("Karte 4556 7375 8689 9856", False),  # Luhn fails
        ("test card 4111 1111 1111 1111", False),  # well-known test number
        ("order id 1234567812345670", False),  # Luhn-valid but no card network
        ("UriScan:(227612066756510)", False),  # a 15-digit 2-series number: no such card
    ],
)
def test_card_numbers_need_luhn_and_a_network(text, found):
    assert bool(find_cards(text)) is found


def test_identifiers_need_their_checksum_and_their_name():
    assert find_identifiers("Steuer-ID: 86095742719") == [("German tax ID", "86095742719")]
    assert find_identifiers("Steuer-ID: 86095742718") == []  # checksum fails
    assert find_identifiers("Bestellnummer 86095742719") == []  # no word names it
    assert find_identifiers("BSN 111222333") == [("Dutch BSN", "111222333")]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    digits=st.text(alphabet="0123456789", min_size=13, max_size=19), country=st.sampled_from(["DE", "GB", "FR", "NL"])
)
def test_a_random_number_failing_its_checksum_is_not_a_finding(digits, country):
    from stdnum import iban, luhn

    if not luhn.is_valid(digits):
        assert find_cards(f"Karte {digits} danke") == []
    candidate = f"{country}{digits[:2]}{digits[2:]}"
    if not iban.is_valid(candidate):
        assert find_ibans(f"IBAN {candidate}") == []


# --- secrets -------------------------------------------------------------------------------------


def test_patch_adding_aws_keys_holds_with_masked_evidence(tmp_path):
    raw = patch_mail([f'AWS_ACCESS_KEY_ID = "{AWS_ID}"', f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"'])
    result = run_check(raw, tmp_path)
    (finding,) = findings_of(result, "secrets")
    assert finding.severity.label == "hold"
    dumped = json.dumps(finding.to_json(), ensure_ascii=False)
    assert AWS_ID not in dumped and AWS_SECRET not in dumped and AWS_ID[1:-1] not in dumped
    assert mask(AWS_ID) in dumped


def test_patch_removing_a_key_is_not_held(tmp_path):
    raw = patch_mail(
        ["region = 'eu-central-1'"], removed=[f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"'], context=[f"# old id {AWS_ID}"]
    )
    assert findings_of(run_check(raw, tmp_path), "secrets") == []


@pytest.mark.parametrize(
    "text, severity",
    [
        (PRIVATE_KEY, "hold"),
        (f"token: {GITHUB}", "hold"),
        ("GITLAB_TOKEN=glpat-Ab3De5Fg7Hj9Kl1Mn3Pq", "hold"),
        ("slack xoxb-123456789012-abcdefghijKLMN", "hold"),
        ("key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "hold"),
        ("password: Tr0ub4dor&3x", "warn"),
        ("Passwort: hunter2hunter", "warn"),
        (f"db_secret = '{AWS_SECRET}'", "warn"),
        ('DB_PASSWORD = "Xk9#mP2qL7vR4tZ8"', "warn"),  # passed before detect-secrets
        ("DB_PASSWORD=Xk9mP2qL7vR4tZ8", "warn"),
        ("clone https://deploy:Vq7pX2mL9rT4@git.kundenfirma.example/repo.git", "hold"),
        (
            "auth eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "hold",
        ),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "hold"),
    ],
)
def test_secrets_are_found(tmp_path, text, severity):
    (finding,) = findings_of(run_check(mail(f"Hallo,\n\n{text}\n"), tmp_path), "secrets")
    assert finding.severity.label == severity


@pytest.mark.parametrize(
    "text",
    [
        "AWS example AKIAIOSFODNN7EXAMPLE",
        "password: ********",
        "password: <your password>",
        "password = os.environ['DB_PASSWORD']",
        "api_key = ${API_KEY}",
        "token = get_token_from_vault(config)",
        "secret_name = 'production-database-main'",
        "Please reset your password: the link expires soon.",
    ],
)
def test_placeholders_and_prose_are_not_secrets(text):
    assert find_secrets(text) == []


def test_check_json_and_send_path_stderr_show_only_masked_secrets(tmp_path, world):
    raw = mail(f"Hallo,\n\nder Zugang: {GITHUB}\n")
    msg = tmp_path / "m.eml"
    msg.write_bytes(raw)
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG)
    out = subprocess.run(
        [sendguard_exe(), "--config", str(cfg), "check", "--json", str(msg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert GITHUB not in out.stdout + out.stderr and GITHUB[4:-4] not in out.stdout
    assert mask(GITHUB) in out.stdout
    sent = world.send(raw, "-i", INSIDE)
    assert sent.returncode != 0 and not world.server.received
    assert GITHUB.encode() not in sent.stdout + sent.stderr
    # the queue keeps the message itself; every other record (meta, logs) has only the masked form
    data_home = Path(os.environ["XDG_DATA_HOME"])
    records = [p for p in data_home.rglob("*") if p.is_file() and b"Subject:" not in p.read_bytes()[:4096]]
    assert records, "the held message left no record"
    for record in records:
        assert GITHUB[4:-4].encode() not in record.read_bytes(), record


def test_mask_keeps_first_and_last_only():
    assert mask("abcdefgh") == "a…h"
    assert mask("abc") == "…"


# --- text helpers --------------------------------------------------------------------------------


def test_patch_text_keeps_prose_and_added_lines_only():
    text = "Fix it.\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old secret\n context\n+new line\n"
    kept = patch_text(text)
    assert "Fix it." in kept and "new line" in kept
    assert "old secret" not in kept and "context" not in kept


def test_own_text_drops_quotes_signature_and_forwards():
    text = "Mine.\n> theirs\nOn Monday Anna wrote:\nhers\n-- \nsig\n"
    assert own_text(text).strip() == "Mine."


def test_a_private_key_file_attached_is_held(tmp_path):
    raw = mail("Hier der Schlüssel.", attachments=[("id_ed25519", "application/octet-stream", PRIVATE_KEY.encode())])
    (finding,) = findings_of(run_check(raw, tmp_path), "secrets")
    assert finding.severity.label == "hold" and "id_ed25519" in finding.message


def test_secrets_in_a_docx_are_found(tmp_path):
    from tests.support.content_fixtures import docx

    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    raw = mail("anbei", attachments=[("zugang.docx", docx_type, docx(["Zugang", f"Token: {GITHUB}"]))])
    (finding,) = findings_of(run_check(raw, tmp_path), "secrets")
    assert finding.severity.label == "hold" and "zugang.docx" in finding.message
    assert GITHUB not in finding.message


def test_the_subject_is_scanned_too(tmp_path):
    iban = findings_of(run_check(mail("Danke!", subject=f"Erstattung bitte auf {IBAN}"), tmp_path), "sensitive-data")
    assert iban and "3704" not in (iban[0].evidence or "")
    (secret,) = findings_of(run_check(mail("siehe Betreff", subject=f"neuer Zugang {GITHUB}"), tmp_path), "secrets")
    assert secret.severity.label == "hold" and GITHUB not in secret.message
    table = "Tim Roth\t78000\nLea Vogel\t81000\n"  # the word that makes it a salary table is in the subject
    (salaries,) = findings_of(run_check(mail(table, subject="Gehälter 2026"), tmp_path), "sensitive-data")
    assert salaries.severity.label == "hold"
