"""The flow tables of marketplace's stateful rows, and their named groups of states (see `marketplace.states`)."""

from marketplace.models import (
    Node,
    NodeEvent,
    NodeState,
    Partner,
    PartnerEvent,
    PartnerStatus,
    Rental,
    RentalEvent,
    RentalState,
)
from marketplace.states import StateFlow, register

S, N, P = RentalState, NodeState, PartnerStatus

# stopped: only on a partner that can stop nodes (not billed; its nodes keep their disks), and back to running.
RENTAL_FLOW = register(StateFlow(Rental, RentalEvent, "rental", moves={
    S.PENDING: {S.PROVISIONING, S.TERMINATING, S.FAILED},
    S.PROVISIONING: {S.RUNNING, S.TERMINATING, S.FAILED},
    S.RUNNING: {S.STOPPED, S.TERMINATING, S.FAILED, S.PREEMPTED},
    S.STOPPED: {S.RUNNING, S.TERMINATING, S.FAILED},
    S.TERMINATING: {S.TERMINATED},
    S.TERMINATED: set(),
    S.FAILED: set(),
    S.PREEMPTED: set(),  # a spot node taken back by its partner; its owner (deployment, job) places a replacement
}, final={S.TERMINATED, S.FAILED, S.PREEMPTED}))
RENTAL_TERMINABLE = RENTAL_FLOW.sources(S.TERMINATING)
RENTAL_UNPLACED = frozenset({S.PENDING, S.PROVISIONING})  # no node runs yet: provisioning may (re)start

# A failed node (lost at its partner) is still terminated there so nothing leaks: failed → terminated.
NODE_FLOW = register(StateFlow(Node, NodeEvent, "node", changed_at_field=None, moves={
    N.PROVISIONING: {N.RUNNING, N.TERMINATING, N.TERMINATED, N.FAILED, N.PREEMPTED},
    N.RUNNING: {N.STOPPED, N.TERMINATING, N.TERMINATED, N.FAILED, N.PREEMPTED},
    N.STOPPED: {N.RUNNING, N.TERMINATING, N.TERMINATED, N.FAILED},
    N.TERMINATING: {N.TERMINATED, N.FAILED, N.PREEMPTED},
    N.TERMINATED: set(),
    N.FAILED: {N.TERMINATED},
    N.PREEMPTED: set(),  # taken back by the partner: nothing is left to stop
}, final={N.TERMINATED, N.FAILED, N.PREEMPTED}))

# A change of kind, URL, options or credentials sends a partner back to pending; no partner state is final.
PARTNER_FLOW = register(StateFlow(Partner, PartnerEvent, "partner", state_field="status", changed_at_field=None,
                                  moves={
    P.PENDING: {P.VERIFIED},
    P.VERIFIED: {P.PENDING, P.ACTIVE, P.SUSPENDED},
    P.ACTIVE: {P.SUSPENDED, P.PENDING},  # → pending: what verification vouched for changed
    P.SUSPENDED: {P.ACTIVE, P.PENDING},
}, final=set()))
PARTNER_SELLING = frozenset({P.VERIFIED, P.ACTIVE})  # partners whose offers are synced
