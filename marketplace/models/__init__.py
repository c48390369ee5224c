from .accounts import ApiKey, Membership, Role, Workspace
from .catalog import (
    INTERCONNECT_RANK,
    Architecture,
    CatalogVersion,
    FormFactor,
    GpuModel,
    Interconnect,
    NodeLaunch,
    Offer,
    Partner,
    PartnerEvent,
    PartnerKind,
    PartnerStatus,
    PriceHistory,
    PriceStatus,
    Region,
)
from .health import HealthState, NodeHealthEvent, Repair
from .rentals import (
    AttemptOutcome,
    Node,
    NodeEvent,
    NodeState,
    Rental,
    RentalAttempt,
    RentalEvent,
    RentalState,
)

__all__ = [
    "INTERCONNECT_RANK", "ApiKey", "Architecture", "AttemptOutcome", "CatalogVersion", "FormFactor", "GpuModel",
    "HealthState", "Interconnect", "Membership", "Node", "NodeEvent", "NodeHealthEvent", "NodeLaunch", "NodeState",
    "Offer", "Partner", "PartnerEvent", "PartnerKind", "PartnerStatus", "PriceHistory", "PriceStatus", "Region",
    "Rental", "RentalAttempt", "RentalEvent", "RentalState", "Repair", "Role", "Workspace",
]
