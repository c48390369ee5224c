"""The pod flow table and its named groups of states (see `marketplace.states`)."""

from marketplace.states import StateFlow, register
from pods.models import Pod, PodEvent, PodState

P = PodState

# A pod follows its rental (which may fail or end at any point); `stopping` ends `stopped` where the partner
# can stop a node, else the node is terminated and the pod ends `terminated`.
POD_FLOW = register(StateFlow(Pod, PodEvent, "pod", moves={
    P.PENDING: {P.PROVISIONING, P.TERMINATING, P.TERMINATED, P.FAILED},
    P.PROVISIONING: {P.RUNNING, P.TERMINATING, P.TERMINATED, P.FAILED},
    P.RUNNING: {P.STOPPING, P.TERMINATING, P.TERMINATED, P.FAILED},
    P.STOPPING: {P.STOPPED, P.TERMINATING, P.TERMINATED, P.FAILED},
    P.STOPPED: {P.PROVISIONING, P.TERMINATING, P.TERMINATED},
    P.TERMINATING: {P.TERMINATED, P.FAILED},
    P.TERMINATED: set(),
    P.FAILED: set(),
}, final={P.TERMINATED, P.FAILED}))
POD_ENDING = POD_FLOW.final | {P.TERMINATING}
