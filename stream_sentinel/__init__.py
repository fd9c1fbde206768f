"""stream-sentinel: a Kafka contract-drift sentinel.

The package is split into a pure core (``stream_sentinel.core``: no faust, no aiokafka, no
network, no clock reads) and thin shells around it: the Faust worker, the replay reader and the
offline ``check`` command all call the same validation core, so they cannot disagree.
"""

__version__ = "0.1.0"
