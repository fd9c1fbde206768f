"""The cluster health model (drift topic -> per-topic status, rules, trend, coverage) and its renderings."""
