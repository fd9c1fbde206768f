"""Behavioural rules: state transitions, duplicates, ordering, follow-ups and CEL expressions.

``model`` compiles the catalog's ``rules:`` and turns a valid message into facts (and judges its
CEL rules); ``engine`` judges facts against per-entity state in a store, with timers for
deadlines and the idle TTL. The worker, replay and check all run these same two steps.
"""
