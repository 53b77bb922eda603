"""sendguard: a sendmail guard for terminal mail.

The package is cut along detect → decide → act:

* ``sendguard.rules``   detect: one rule per module, each returns findings and never acts;
* ``sendguard.decide.decision`` decide: one table turns findings and config into a verdict;
* ``sendguard.act.queue``, ``sendguard.act.delivery``, ``sendguard.sendpath.path`` act: keep, hand off, report.

Nothing here does work at import time, and nothing on the send path imports Textual or notmuch.
"""

__version__ = "0.1.0"
