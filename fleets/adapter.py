"""The adapter of a fleet partner: provisioning assigns the node's launch to one of the workspace's machines.

It implements the provider protocol (`providers.base`) over the database instead of a partner's API: the
machine's agent pulls the work (no inbound connection to the machine), so rentals, attempts, failover and
reconciliation treat a fleet like any partner.
"""

from fleets.flows import WORK_LIVE
from fleets.models import Fleet, Work
from fleets.services.work import describe_state, work_assign, work_for_ref, work_stop
from marketplace.models import Partner, PartnerKind
from providers.base import NOT_FOUND, NodeInfo, ProviderError, ProviderOffer, ProvisionSpec, already_gone_is_terminated


class FleetAdapter:
    kind = PartnerKind.FLEET

    def __init__(self, partner: Partner):
        self.partner = partner

    @property
    def fleet(self) -> Fleet:
        fleet = Fleet.objects.select_related("partner").filter(partner=self.partner).first()
        if fleet is None:
            raise ProviderError(NOT_FOUND, f"partner {self.partner.slug} has no fleet (deleted)")
        return fleet

    def verify(self) -> list[str]:
        return sorted(set(self.fleet.machines.exclude(gpu="").values_list("gpu", flat=True)))

    def list_offers(self) -> list[ProviderOffer]:
        return []  # a fleet's offers are kept by fleets.services.offers from its machines, never synced

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        return self._info(work_assign(self.fleet, spec))

    def describe(self, ref: str) -> NodeInfo:
        return self._info(work_for_ref(self.fleet, ref))

    def terminate(self, ref: str) -> None:
        with already_gone_is_terminated():
            work_stop(work_for_ref(self.fleet, ref), reason="terminated by the broker", actor="broker")

    def list_nodes(self) -> list[NodeInfo]:
        works = Work.objects.filter(machine__fleet=self.fleet, state__in=WORK_LIVE).select_related("machine")
        return [self._info(work) for work in works]

    @staticmethod
    def _info(work: Work) -> NodeInfo:
        return NodeInfo(ref=work.ref, state=describe_state(work), region=work.region_code,
                        instance_type=work.instance_type, ip=work.machine.ip or None, tags=dict(work.tags))
