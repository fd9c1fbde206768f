"""Replay, capture and rewind: read Kafka directly with aiokafka (never Faust), one core."""
