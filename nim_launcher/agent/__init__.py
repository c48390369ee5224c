"""The GPU node health agent: reads NVML and the kernel log, judges health, heartbeats to the broker.

Runs on bare nodes with only `requests` and `nvidia-ml-py`: nothing in this package imports Django.
"""

AGENT_VERSION = "0.2.0"
