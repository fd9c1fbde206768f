"""Affected consumers: which groups consumed a topic's drifting messages, and how many."""

from __future__ import annotations

from stream_sentinel.core.consumers import Impact, impacts


def test_a_group_past_the_first_drifting_offset_is_affected_and_counts_what_it_consumed() -> None:
    drifting = {0: [10, 12, 12, 30], 1: [5]}  # a message with two violations counts once
    committed = {
        "billing": {0: 13, 1: 6},  # read 10, 12 and 5 (next to read: 13 and 6)
        "search": {0: 10},  # stopped right at the first drifting record: not read yet
        "audit": {0: 100, 1: 100},
    }
    result = impacts(drifting, committed)
    assert [i.group for i in result] == ["audit", "billing", "search"]
    assert result[0] == Impact("audit", True, 4, 0, 2)
    assert result[1] == Impact("billing", True, 3, 1, 2)
    assert result[2] == Impact("search", False, 0, 4, 1)
    assert result[2].to_dict() == {"group": "search", "affected": False, "consumed": 0, "pending": 4, "partitions": 1}


def test_no_drift_or_no_readers_means_no_impact() -> None:
    assert impacts({}, {"g": {0: 5}}) == [Impact("g", False, 0, 0, 1)]
    assert impacts({0: [1]}, {}) == []
