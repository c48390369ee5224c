"""EC2 GPU instance types the broker sells, with us-east-1 on-demand list prices (USD per node-hour).

AWS exposes no live GPU capacity, so offers built from this table carry `available_nodes=None`.
Source: the SkyPilot catalogue snapshot in ../shared/catalog (aws/vms.csv).
"""

from __future__ import annotations

from typing import NamedTuple


class Ec2GpuType(NamedTuple):
    gpu: str
    gpus: int
    vcpus: float
    memory_gb: float
    price: float | None  # None = no on-demand list price (capacity blocks only): not offered
    spot: float | None
    interconnect: str


EC2_GPU_TYPES: dict[str, Ec2GpuType] = {
    "p4d.24xlarge": Ec2GpuType("A100", 8, 96, 1152, 21.957642, 2.4655, "infiniband"),
    "p4de.24xlarge": Ec2GpuType("A100-80GB", 8, 96, 1152, 27.44705, 9.9734, "infiniband"),
    "p5.48xlarge": Ec2GpuType("H100", 8, 192, 2048, 55.04, 10.2397, "infiniband"),
    "p5.4xlarge": Ec2GpuType("H100", 1, 16, 256, 6.88, None, "pcie"),
    "p5e.48xlarge": Ec2GpuType("H200", 8, 192, 2048, None, None, "infiniband"),
    "p5en.48xlarge": Ec2GpuType("H200", 8, 192, 2048, 63.296, 17.2074, "infiniband"),
    "p6-b200.48xlarge": Ec2GpuType("B200", 8, 192, 2048, 113.9328, 13.0338, "infiniband"),
    "p6-b300.48xlarge": Ec2GpuType("B300", 8, 192, 4096, 142.416, 33.4308, "infiniband"),
    "g6e.xlarge": Ec2GpuType("L40S", 1, 4, 32, 1.861, 1.1975, "pcie"),
    "g6e.2xlarge": Ec2GpuType("L40S", 1, 8, 64, 2.24208, 1.0895, "pcie"),
    "g6e.4xlarge": Ec2GpuType("L40S", 1, 16, 128, 3.00424, 1.032, "pcie"),
    "g6e.8xlarge": Ec2GpuType("L40S", 1, 32, 256, 4.52856, 1.4119, "pcie"),
    "g6e.12xlarge": Ec2GpuType("L40S", 4, 48, 384, 10.49264, 3.7887, "pcie"),
    "g6e.24xlarge": Ec2GpuType("L40S", 4, 96, 768, 15.06559, 5.3367, "pcie"),
    "g6e.48xlarge": Ec2GpuType("L40S", 8, 192, 1536, 30.13118, 8.0189, "pcie"),
    "g6.xlarge": Ec2GpuType("L4", 1, 4, 16, 0.8048, 0.4011, "pcie"),
    "g6.4xlarge": Ec2GpuType("L4", 1, 16, 64, 1.3232, 0.6785, "pcie"),
    "g6.8xlarge": Ec2GpuType("L4", 1, 32, 128, 2.0144, 0.9633, "pcie"),
}
