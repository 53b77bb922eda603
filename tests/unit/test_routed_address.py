"""Routed addresses (percent hack, bang paths, source routes) are judged where they would end.

``bob%evil.example@nordwerk.example`` was judged a colleague at nordwerk.example; a relay that
honours the percent hack delivers it to bob@evil.example. It is now outside, blocked where any
host on its way is, and held by routed-address."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.decide.check import check_message
from sendguard.history.fit import organization
from sendguard.mail.message import OutgoingMessage, route_of
from sendguard.model import Verdict
from sendguard.rules.context import CheckContext
from tests.conftest import make_message

CONFIG = parse(
    '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
    '[clients.kundenfirma]\ndomains = ["kundenfirma.example"]\n'
    '[allow]\ndomains = ["partner.example"]\n'
    '[block]\naddresses = ["leak@evil.example"]\ndomains = ["blocked.example"]\n'
)


def context(tmp_path, *envelope: str) -> CheckContext:
    return CheckContext(config=CONFIG, envelope=list(envelope), now=0.0, state_dir=tmp_path)


def judge(tmp_path, addr: str):  # type: ignore[no-untyped-def]
    message = OutgoingMessage(make_message(to="kai@nordwerk.example"))
    return check_message(message, CONFIG, envelope=[addr.lower()], state_dir=tmp_path).decision


@pytest.mark.parametrize(
    ("addr", "hosts", "destination", "how"),
    [
        ("bob%evil.example@nordwerk.example", ("evil.example",), "evil.example", "the percent hack"),
        ("u%b.example%a.example@nordwerk.example", ("b.example", "a.example"), "b.example", "the percent hack"),
        ("evil.example!bob@nordwerk.example", ("evil.example",), "evil.example", "a bang path"),
        ("evil!bob", ("evil",), "evil", "a bang path"),
        ("@relay.example,@r2:bob@nordwerk.example", ("relay.example", "r2"), "nordwerk.example", "a source route"),
        ('"bob@evil.example"@nordwerk.example', ("evil.example",), "evil.example", "an '@' in the local part"),
    ],
)
def test_route_of_names_every_host_on_the_way(addr, hosts, destination, how):
    route = route_of(addr)
    assert route is not None
    assert (route.hosts, route.destination, route.how) == (hosts, destination, how)


@pytest.mark.parametrize("addr", ["bob@nordwerk.example", "bob", "bob@[IPv6:::1]", "o'neil+tag@x.example"])
def test_an_ordinary_address_has_no_route(addr):
    assert route_of(addr) is None


def test_a_percent_hack_address_at_the_organization_is_outside(tmp_path):
    ctx = context(tmp_path, "bob%evil.example@nordwerk.example")
    addr = "bob%evil.example@nordwerk.example"
    assert not ctx.is_internal(addr) and ctx.outside_recipients == [addr]
    assert organization(ctx, addr) == "evil.example"
    assert ctx.client_of("bob%evil.example@kundenfirma.example") is None
    assert not ctx.is_allowed("bob%evil.example@partner.example")
    assert ctx.is_internal("bob%kai.nordwerk.example@nordwerk.example")  # every host is ours
    assert ctx.is_allowed("bob%x.partner.example@partner.example")


@pytest.mark.parametrize(
    "addr",
    ["bob%evil.example@nordwerk.example", "evil.example!bob@nordwerk.example", "@evil.example:bob@nordwerk.example"],
)
def test_a_routed_address_is_held_with_a_clear_reason(tmp_path, addr):
    decision = judge(tmp_path, addr)
    assert decision.verdict == Verdict.HOLD
    (finding,) = [f for f in decision.findings if f.rule == "routed-address"]
    assert finding.recipient == addr and "a server that honours it sends the mail" in finding.message
    assert "evil.example" in finding.message


@pytest.mark.parametrize("addr", ["leak%evil.example@nordwerk.example", "bob%blocked.example@nordwerk.example"])
def test_the_block_list_sees_where_a_routed_address_ends(tmp_path, addr):
    assert judge(tmp_path, addr).verdict == Verdict.BLOCK


_LOCAL = st.text(alphabet="abcz.-_+", min_size=1, max_size=8)
_HOST = st.from_regex(r"[a-z]{1,6}\.(example|nordwerk\.example|test)", fullmatch=True)


@given(user=_LOCAL, host=_HOST, mark=st.sampled_from(["%", "!"]))
def test_a_routed_address_is_internal_only_if_where_it_goes_is(user, host, mark):
    addr = f"{user}%{host}@nordwerk.example" if mark == "%" else f"{host}!{user}@nordwerk.example"
    ctx = CheckContext(config=CONFIG, envelope=[addr], now=0.0, state_dir=None)  # type: ignore[arg-type]
    assert ctx.is_internal(addr) == host.endswith(".nordwerk.example")


def test_a_routed_address_the_user_writes_to_only_warns(tmp_path):
    """Lotus Notes gateways wrote addresses like ``Name/Dept%Domain@corp.example``: one the user's
    own sent mail already went to is how they reach that person; a new one is held."""
    from sendguard.history.learn import Learner
    from sendguard.history.store import open_for_write
    from tests.support import history_fixtures as hf

    gateway = "robert.turner/remote%eott@lindenhof.example"
    state = hf.learned_state(tmp_path)
    db = open_for_write(state)
    with Learner(db, [hf.ME], ["lindenhof.example"]) as learner:
        learner.add(hf.mail([gateway], "Pipeline", "Robert,\n\nthe figures.\n", n=400))
    db.close()

    def routed(addr: str):  # type: ignore[no-untyped-def]
        message = OutgoingMessage(hf.mail([addr], "Pipeline", "Robert,\n\nmore figures.\n", n=401))
        decision = check_message(message, hf.config(), envelope=[addr], state_dir=state).decision
        return next(f for f in decision.findings if f.rule == "routed-address")

    assert routed(gateway).severity.label == "warn"
    assert routed("bob%evil.example@lindenhof.example").severity.label == "hold"
