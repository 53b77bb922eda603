"""``sendguard review``: the Textual review app, installed as ``sendguard.tui``.

It lives outside ``sendguard/`` so the boundary is visible: the core (and above all the send
path) never imports it or Textual; it imports the core. The app is a thin layer: what to show
comes from sendguard.recover.review_data, every action is a core function (queue_ops, fix,
config_edit, false_alarms) run in a worker thread so msmtp never freezes the screen.

Every string that comes from a message is untrusted. It is shown through
:func:`sendguard.tui.safe.text` (``printable()`` + a ``rich.text.Text``), never as a markup
string, so neither ``[bold]``/``[@click=…]`` nor a terminal escape can style, link or trigger
anything. Nothing is imported here at import time.
"""
