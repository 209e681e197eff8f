"""Licence sequences: an issuer may choose one (to render the licence file before issuing it), or the
contract assigns the next free one; through the real state transition, in memory."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain.contracts.licence.contract import next_sequence
from govchain.contracts.licence.model import DAY_MS, licence_id
from govchain.contracts.licence.tests.test_lifecycle import World, _world, world
from govchain.state import ReadView


def issued(world: World) -> set[str]:
    return {k[len(b"licence/l/") :].decode() for k in world.state.state if k.startswith(b"licence/l/")}


__all__ = ["world"]  # the fixture


def next_free(world: World, org: str = "org2") -> int:
    return next_sequence(ReadView(world.state, "licence"), world.chain.suite, {"type": "BL", "org": org})


def test_a_chosen_sequence_is_used_and_a_taken_one_refused_with_no_state_change(world: World) -> None:
    assert next_free(world) == 1
    assert world.send("issuer2", "issue", world.issue_args(sequence=3)) == "ok"
    assert issued(world) == {licence_id("BL", "org2", 3)}
    before = world.licence_state()
    assert world.send("issuer2", "issue", world.issue_args(sequence=3)) == "sequence_taken"
    assert world.licence_state() == before
    # Unchosen sequences fill the gaps and skip the chosen ones.
    for _ in range(3):
        assert world.send("issuer2", "issue", world.issue_args()) == "ok"
    assert issued(world) == {licence_id("BL", "org2", s) for s in (1, 2, 3, 4)}
    assert next_free(world) == 5 and next_free(world, "org3") == 1
    for bad in (0, -1, True, "5", 10**12, None):
        before = world.licence_state()
        assert world.send("issuer2", "issue", world.issue_args(sequence=bad)) == "invalid_args", bad
        assert world.licence_state() == before


@pytest.mark.parametrize("extra", [{"seq": 1}, {"id": "BL-org2-00000001-X"}])
def test_issue_refuses_unknown_arguments(world: World, extra: dict[str, object]) -> None:
    assert world.send("issuer2", "issue", world.issue_args(**extra)) == "invalid_args"
    assert not issued(world)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=st.lists(st.one_of(st.none(), st.integers(1, 8)), min_size=1, max_size=12))
def test_sequences_are_unique_and_fill_the_lowest_gap(
    tmp_path_factory: pytest.TempPathFactory, choices: list[int | None]
) -> None:
    """Against a plain model: unchosen issues take the lowest free sequence; chosen ones succeed
    exactly when free; the next-sequence query always names the lowest free one."""
    world = _world(tmp_path_factory)
    taken: set[int] = set()
    for chosen in choices:
        lowest = min(set(range(1, len(taken) + 2)) - taken)
        assert next_free(world) == lowest
        args = world.issue_args() if chosen is None else world.issue_args(sequence=chosen)
        code = world.send("issuer2", "issue", args)
        if chosen is not None and chosen in taken:
            assert code == "sequence_taken"
        else:
            assert code == "ok"
            taken.add(lowest if chosen is None else chosen)
        assert issued(world) == {licence_id("BL", "org2", s) for s in taken}


def test_a_new_version_may_name_itself_and_is_refused_if_it_is_not_next(world: World) -> None:
    """A rendered file shows the version it is for: `change`/`renew` naming another one change nothing."""
    lid = world.issue()
    digests = {"data_digest": bytes(32), "file_digest": bytes(range(32))}
    renew = {"valid_until": world.now + 300 * DAY_MS}
    for op, extra, version, refusal in [
        ("change", digests, 3, "conflict"),
        ("renew", renew, 1, "conflict"),
        ("change", digests, "2", "invalid_args"),
    ]:
        before = world.licence_state()
        args = {"id": lid, "reason": "new version", "version": version} | extra
        assert world.send("issuer2", op, args) == refusal, (op, version)
        assert world.licence_state() == before
    assert world.send("issuer2", "change", {"id": lid, "reason": "变更", "version": 2} | digests) == "ok"
    assert world.send("issuer2", "renew", {"id": lid, "reason": "延续", "version": 3} | renew) == "ok"
    assert world.record(lid)["version"] == 3 and world.record(lid)["file"] == bytes(range(32))
