"""The job's flow table and its named groups of states (see `marketplace.states`)."""

from jobs.models import Job, JobEvent, JobState
from marketplace.states import StateFlow, register

J = JobState

# A run's rental that ends under the job (node lost, failed, preempted) sends it to restarting, and a restart
# reaches running again once every worker is up; cancel from any live state ends cancelled once the nodes are gone.
JOB_FLOW = register(StateFlow(Job, JobEvent, "job", moves={
    J.PENDING: {J.PROVISIONING, J.FAILED, J.CANCELLING},
    J.PROVISIONING: {J.RUNNING, J.RESTARTING, J.SUCCEEDED, J.FAILED, J.CANCELLING},
    J.RUNNING: {J.RESTARTING, J.SUCCEEDED, J.FAILED, J.CANCELLING},
    J.RESTARTING: {J.RUNNING, J.SUCCEEDED, J.FAILED, J.CANCELLING},
    J.CANCELLING: {J.CANCELLED},
    J.SUCCEEDED: set(),
    J.FAILED: set(),
    J.CANCELLED: set(),
}, final={J.SUCCEEDED, J.FAILED, J.CANCELLED}))
JOB_CANCELLABLE = JOB_FLOW.sources(J.CANCELLING)
JOB_PLACED = frozenset({J.PROVISIONING, J.RUNNING, J.RESTARTING})  # a run's rental is in use
