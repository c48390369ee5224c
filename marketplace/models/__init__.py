from .accounts import ApiKey, Membership, Role, Workspace
from .catalog import (
    INTERCONNECT_RANK,
    Architecture,
    CatalogVersion,
    GpuModel,
    Interconnect,
    NodeLaunch,
    Offer,
    Partner,
    PartnerKind,
    PartnerStatus,
    PriceHistory,
    PriceStatus,
    Region,
)
from .health import HealthState, NodeHealthEvent, Repair
from .rentals import Node, NodeState, Rental, RentalAttempt, RentalEvent, RentalState

__all__ = [
    "INTERCONNECT_RANK", "ApiKey", "Architecture", "CatalogVersion", "GpuModel", "HealthState", "Interconnect",
    "Membership", "Node", "NodeLaunch", "NodeHealthEvent", "NodeState", "Offer", "Partner", "PartnerKind",
    "PartnerStatus", "PriceHistory", "PriceStatus", "Region", "Rental", "RentalAttempt",
    "RentalEvent", "RentalState", "Repair", "Role", "Workspace",
]
