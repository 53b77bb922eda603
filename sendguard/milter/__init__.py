"""``sendguard milter``: the send path's checks on a team's Postfix (or Sendmail), as a milter.

Three layers, each replaceable without the others (as aiosmtpd separates its protocol, its
handler and its controller):

* ``policy`` — what to do with one message: the same ``check_message`` and decision table as
  the send path, per-sender history, the confirm-by-resending window, the incident log. Pure
  Python, no milter library: tests drive it with bytes.
* ``adapter`` — the milter protocol (pymilter/libmilter): collects the envelope, headers and
  body of one SMTP transaction and turns the policy's outcome into a reply, a header or a
  quarantine. The only module that imports ``Milter``.
* ``lifecycle`` — the process: the listening socket, the per-message time limit, the
  background learner and notices, signals.

``senders`` (where each sender's history lives) and ``postfix`` (Postfix's hold queue through
``postqueue``/``postsuper``) are shared with the CLI and import no milter library either.
"""
