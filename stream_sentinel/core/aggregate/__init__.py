"""Aggregators that fold assessed messages: window tallies, the check/replay report, the replay comparison."""
