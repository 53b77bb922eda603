"""French mail gets a French record and French drafts: tu or vous as the user writes to that
person, the rules' findings in French, nothing in English or German."""

from __future__ import annotations

import email
import email.policy

from sendguard import paths
from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from sendguard.recover.breach_record import record_text
from sendguard.recover.oops import oops
from sendguard.recover.oops_texts import language_of
from tests.support import history_fixtures as hf

NOW = 1795770000.0
CLAIRE = "claire.martin@seeblick.example"
NOTE = (
    "Salut Thomas,\n\npour la réorganisation : les coûts de personnel doivent baisser, deux postes "
    "sont supprimés. Tu peux valider le budget ?\n\nAmicalement\nPetra"
)


def config() -> config_mod.Config:
    return config_mod.parse(
        hf.CONFIG_TEXT.replace("[identity]\n", '[identity]\nname = "Petra Lang"\n')
        + '\n[log]\nenabled = false\n[oops]\nmanager = "dpo@lindenhof.example"\n'
    )


def learn_french_history() -> None:
    mails = [hf.mail([hf.BOSS], "Budget", NOTE, n=i, msgid=f"b{i}@x") for i in range(3)]
    mails += [
        hf.mail(
            [hf.CLIENT_THOMAS],
            "Granit",
            "Bonjour Monsieur Kern,\n\nvoici le calendrier que je vous ai promis.\n\nCordialement\nPetra Lang",
            n=10 + i,
            msgid=f"k{i}@x",
        )
        for i in range(3)
    ]
    hf.learn_into(paths.state_dir(create=True), mails, config())


def delivered(raw: bytes) -> q.Entry:
    entry, lock = q.Queue.default().create(
        raw,
        {
            "state": q.DELIVERED,
            "envelope": [hf.CLIENT_THOMAS],
            "subject": "Réorganisation",
            "verdict": "warn",
            "delivered": "2026-11-27T08:00:00+00:00",
            "findings": [
                {
                    "rule": "internal-to-outside",
                    "severity": "warn",
                    "message": "This looks internal, but thomas.kern@bergwerk.example is outside the organization.",
                    "recipient": hf.CLIENT_THOMAS,
                    "suggestion": hf.BOSS,
                },
            ],
        },
    )
    lock.release()
    return entry


def test_french_is_recognised():
    assert language_of(NOTE) == "fr"
    assert language_of("Bonjour Claire, merci pour votre retour. Cordialement") == "fr"


def test_french_record_and_drafts_in_the_users_voice(tmp_path):
    learn_french_history()
    entry = delivered(hf.mail([hf.CLIENT_THOMAS], "Réorganisation", NOTE, n=50, msgid="fr@x"))
    report = oops(q.Queue.default(), entry.id, config(), now=NOW, drafts_dir=tmp_path / "Drafts")
    assert report.language == "fr" and report.record["language"] == "fr"
    text = record_text(report.record)
    assert "entrée du registre des violations de données" in text and "Constaté:" in text
    assert "[avertissement] Le message semble interne" in text and "Délai:" in text
    for foreign in ("This looks", "TO BE ASSESSED", "Betreff", "[warn]"):
        assert foreign not in text
    drafts = {
        p.name.split(".oops-", 1)[1].split("-", 1)[0]: email.message_from_bytes(
            p.read_bytes(), policy=email.policy.default
        )
        for p in report.drafts
    }
    assert set(drafts) == {"unintended", "intended", "manager"}
    wrong = drafts["unintended"].get_body(("plain",)).get_content()
    assert wrong.startswith("Bonjour Monsieur Kern,\n\nMon message « Réorganisation » du ")
    assert "ne vous était pas destiné ; je vous l'ai envoyé par erreur." in wrong
    assert wrong.endswith("\n\nCordialement\nPetra Lang\n") and " tu " not in wrong
    boss = drafts["intended"]
    assert boss["Subject"] == "TR : Réorganisation"
    body = boss.get_body(("plain",)).get_content()
    assert body.startswith("Salut Thomas,\n\nLe message ci-joint « Réorganisation » du ")
    assert (
        "t'était destiné. Je l'ai envoyé par erreur à Thomas Kern (thomas.kern@bergwerk.example) au lieu de toi."
        in body
    )
    assert body.endswith("\n\nAmicalement\nPetra Lang\n") and "vous" not in body
    facts = drafts["manager"].get_body(("plain",)).get_content()
    assert facts.startswith("Bonjour,\n\nPour information : un e-mail est parti par erreur au mauvais destinataire.")
    assert f"Destiné à : {hf.BOSS} (présumé)" not in facts  # labels are "Label: value" in every language
    assert f"Destiné à: {hf.BOSS} (présumé)" in facts and "72 heures" in facts
