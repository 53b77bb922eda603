"""``sendguard milter``: the send path's checks on a team's Postfix (or Sendmail), as a milter.

Three layers, each replaceable without the others: ``policy`` (what to do with one message),
``adapter`` (the milter protocol, the only module that imports ``Milter``) and ``lifecycle``
(the process). ARCHITECTURE.md, "The milter", says what each does.
"""
