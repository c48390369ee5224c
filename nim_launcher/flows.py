"""The flow tables of deployments and replicas, and their named groups of states (see `marketplace.states`)."""

from marketplace.states import StateFlow, register
from nim_launcher.models import Deployment, DeploymentEvent, DeploymentState, Replica, ReplicaEvent, ReplicaState

D, R = DeploymentState, ReplicaState

# A deployment settles on ready / degraded / starting from whatever its replicas do; deleting it from any live
# state terminates it.
_SETTLED = {D.STARTING, D.READY, D.DEGRADED, D.TERMINATING, D.FAILED}
DEPLOYMENT_FLOW = register(StateFlow(Deployment, DeploymentEvent, "deployment", moves={
    D.PENDING: _SETTLED | {D.PROVISIONING},
    D.PROVISIONING: _SETTLED,
    D.STARTING: _SETTLED - {D.STARTING},
    D.READY: _SETTLED - {D.READY},
    D.DEGRADED: _SETTLED - {D.DEGRADED},
    D.TERMINATING: {D.TERMINATED},
    D.TERMINATED: set(),
    D.FAILED: set(),
}, final={D.TERMINATED, D.FAILED}))
DEPLOYMENT_ENDING = DEPLOYMENT_FLOW.final | {D.TERMINATING}  # deleted: no longer scaled or settled
DEPLOYMENT_SETTLING = DEPLOYMENT_FLOW.live - {D.READY}  # something is still in progress: the page polls

# A replica follows its rental: the rental may end (terminated or failed) at any point.
REPLICA_FLOW = register(StateFlow(Replica, ReplicaEvent, "replica", changed_at_field=None, moves={
    R.PROVISIONING: {R.STARTING, R.READY, R.TERMINATING, R.TERMINATED, R.FAILED},
    R.STARTING: {R.READY, R.TERMINATING, R.TERMINATED, R.FAILED},
    R.READY: {R.TERMINATING, R.TERMINATED, R.FAILED},
    R.TERMINATING: {R.TERMINATED, R.FAILED},
    R.TERMINATED: set(),
    R.FAILED: set(),
}, final={R.TERMINATED, R.FAILED}))
