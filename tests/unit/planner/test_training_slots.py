"""The training slots of one node (no Ray): how many fit at once, who is next, and how a
dead holder's slot comes back."""

from __future__ import annotations

from planner_cluster.actors.slots import SlotQueue


def test_a_free_slot_goes_to_the_most_stale_plan_not_the_first_to_ask() -> None:
    q = SlotQueue(slots=1, lease_s=30)
    q.ask("busy", "t0", waiting_since=0.0)
    assert [g.campaign for g in q.grant(now=1.0)] == ["busy"]
    q.ask("fresh", "t1", waiting_since=9.0)   # asks first, data 1 s old at t=10
    q.ask("stale", "t2", waiting_since=4.0)   # asks later, data 6 s old
    assert q.grant(now=10.0) == []            # the one slot is held
    assert q.leave("busy", "t0")
    grants = q.grant(now=10.5)
    assert [(g.campaign, g.waiting_since, g.next_waiting_since) for g in grants] == [
        ("stale", 4.0, 9.0)]
    assert q.leave("stale", "t2")
    assert [g.campaign for g in q.grant(now=11.0)] == ["fresh"]


def test_no_more_holders_than_slots() -> None:
    q = SlotQueue(slots=2, lease_s=30)
    for i in range(5):
        q.ask(f"c{i}", f"t{i}", waiting_since=float(i))
    assert [g.campaign for g in q.grant(now=10.0)] == ["c0", "c1"]
    assert sorted(q.holders) == ["c0", "c1"] and len(q.waiters) == 3
    assert q.grant(now=11.0) == []


def test_a_hold_that_is_not_renewed_expires_and_the_slot_moves_on() -> None:
    q = SlotQueue(slots=1, lease_s=2)
    q.ask("dead", "t0", waiting_since=0.0)
    q.grant(now=0.0)
    q.ask("next", "t1", waiting_since=0.5)
    assert q.renew("dead", "t0", now=1.0)    # renewed: held until 3.0
    assert q.grant(now=2.5) == []
    assert [g.campaign for g in q.grant(now=3.0)] == ["next"]
    assert not q.renew("dead", "t0", now=3.1)  # too late: the slot is gone


def test_a_restarted_worker_takes_over_its_predecessors_hold_at_once() -> None:
    q = SlotQueue(slots=1, lease_s=30)
    q.ask("c1", "old", waiting_since=0.0)
    q.grant(now=0.0)
    q.ask("c2", "t2", waiting_since=1.0)
    assert q.ask("c1", "new", waiting_since=2.0) == "old"  # the dead hold is dropped
    assert [g.campaign for g in q.grant(now=2.0)] == ["c2"]  # c2 was more stale
    assert not q.leave("c1", "old")  # a late release of the old request changes nothing
    assert q.leave("c2", "t2")
    assert [(g.campaign, g.token) for g in q.grant(now=3.0)] == [("c1", "new")]


def test_leaving_the_queue_before_a_grant() -> None:
    q = SlotQueue(slots=1, lease_s=30)
    q.ask("c1", "t1", waiting_since=0.0)
    assert q.leave("c1", "t1")
    assert q.grant(now=1.0) == [] and not q.holders
