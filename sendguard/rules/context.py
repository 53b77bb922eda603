"""What a rule may know besides the message: config, envelope, history, the clock.

Built once per message by check.py. Expensive parts (the history store) open on first use,
so a rule set that never asks for them never pays for them. Time is injected (``now``), so
tests never depend on the clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sendguard.lazy import cached_property
from sendguard.mail.message import domain_matches, domain_of, normalize_address, route_of
from sendguard.rules import CONTENT_RULES

__all__ = ["CheckContext", "domain_matches"]

if TYPE_CHECKING:
    from sendguard.config.schema import Config


class CheckContext:
    """A plain class, not a dataclass: this module is imported on every mail, and @dataclass
    compiles its generated methods per class (~0.5 ms each; bench/README.md)."""

    def __init__(
        self,
        config: Config,
        envelope: list[str],
        now: float,
        state_dir: Path,
        options: tuple[str, ...] = (),
        cache: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.envelope = envelope
        """The recipients the message will really go to (normalized addresses)."""
        self.now = now
        self.state_dir = state_dir
        self.options = options
        """The caller's sendmail options (for rules that care, e.g. git send-email's -i)."""
        self.cache: dict[str, Any] = {} if cache is None else cache
        """Per-message scratch space rules may share (e.g. a parsed greeting)."""
        self.deadline = float("inf")
        """time.monotonic() by which the content checks must be done ([check] budget): what is
        not read by then is a problem of the message (held as unreadable), never skipped silently."""

    def __repr__(self) -> str:
        return f"CheckContext(envelope={self.envelope!r}, now={self.now!r}, state_dir={self.state_dir!r})"

    # The configured address lists, lower-cased once per check (each rule asks per recipient).
    @cached_property
    def _own(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.config.identity.addresses)

    @cached_property
    def _allowed(self) -> frozenset[str]:
        return frozenset(a.lower() for a in self.config.allow.addresses)

    @cached_property
    def _clients(self) -> list[tuple[str, frozenset[str], list[str]]]:
        return [
            (name, frozenset(a.lower() for a in client.addresses), client.domains)
            for name, client in self.config.clients.items()
        ]

    def is_own(self, addr: str) -> bool:
        return normalize_address(addr) in self._own

    def is_internal(self, addr: str) -> bool:
        """Its domain is the organization's, and so is every host its routing names: a routed
        address (``bob%evil.example@nordwerk.example``) leaves through the organization's relay."""
        return _in_domains(addr, self.config.organization.domains)

    def is_allowed(self, addr: str) -> bool:
        """Listed in ``[allow] addresses``, or its domain and every host it routes through in
        ``[allow] domains``."""
        addr = normalize_address(addr)
        return addr in self._allowed or _in_domains(addr, self.config.allow.domains)

    def client_of(self, addr: str) -> str | None:
        """The ``[clients.NAME]`` an address belongs to, if any: the first client that lists the
        address or one of whose domains it is in. A routed address belongs to no client by its
        domain (route_of): where it ends is not the domain it names last."""
        addr = normalize_address(addr)
        by_domain = -1 if route_of(addr) else self._client_of_domain(domain_of(addr))
        for index, (name, addresses, _domains) in enumerate(self._clients):
            if index == by_domain or addr in addresses:
                return name
        return None

    @cached_property
    def _client_domains(self) -> dict[str, int]:
        return {}

    def _client_of_domain(self, domain: str) -> int:
        """The index of the first client one of whose domains ``domain`` is in (-1: none), once
        per domain: thousands of recipients share a few domains, and each client has several."""
        known = self._client_domains
        if domain not in known:
            matches = (i for i, (_n, _a, domains) in enumerate(self._clients) if domain_matches(domain, domains))
            known[domain] = next(matches, -1)
        return known[domain]

    @cached_property
    def outside_recipients(self) -> list[str]:
        return [a for a in self.envelope if not self.is_internal(a)]

    @cached_property
    def history(self) -> Any:
        """The learned history (sendguard.history), or None when nothing was learned."""
        from sendguard import history

        return history.open_for_check(self.state_dir)


def _in_domains(addr: str, domains: list[str]) -> bool:
    """The address's domain is one of ``domains``, and so is every host its routing names."""
    if not domain_matches(domain_of(addr), domains):
        return False
    route = route_of(addr)
    return route is None or all(domain_matches(host, domains) for host in route.hosts)


def silenced(context: CheckContext, addr: str, rule: str) -> bool:
    """The user said "don't ask again" about this address, or allowed it in the config.

    For a rule about what the message carries (rules.CONTENT_RULES) only a "don't ask again"
    that names that rule counts: allowing a person is not allowing everything sent to them."""
    if context.is_own(addr):
        return True
    store = context.history
    if rule in CONTENT_RULES:
        return store is not None and store.is_trusted(addr, rule, blanket=False)
    if context.is_allowed(addr):
        return True
    return store is not None and store.is_trusted(addr, rule)
