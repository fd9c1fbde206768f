"""The pure validation core: spec loading, decoding, validation, drift values, reports.

Nothing in here performs I/O beyond reading the spec directory at load time, reads a clock or
imports faust/aiokafka (ruff's TID251 rule holds that line).
"""
