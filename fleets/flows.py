"""The flow tables of machines and their work (see `marketplace.states`), and their named groups of states."""

from fleets.models import Machine, MachineEvent, MachineState, Work, WorkEvent, WorkState
from marketplace.states import StateFlow, register

M, W = MachineState, WorkState

# A silent machine goes offline from any live state and comes back ready when its agent is heard again.
MACHINE_FLOW = register(StateFlow(Machine, MachineEvent, "machine", moves={
    M.JOINING: {M.READY, M.OFFLINE, M.REMOVED},
    M.READY: {M.CORDONED, M.DRAINING, M.OFFLINE, M.REMOVED},
    M.CORDONED: {M.READY, M.DRAINING, M.OFFLINE, M.REMOVED},
    M.DRAINING: {M.REMOVED, M.OFFLINE},
    M.OFFLINE: {M.READY, M.REMOVED},
    M.REMOVED: set(),
}, final={M.REMOVED}))
MACHINE_HEARD = frozenset({M.JOINING, M.READY, M.CORDONED, M.DRAINING})  # an agent that goes quiet → offline
MACHINE_CORDONABLE = MACHINE_FLOW.sources(M.CORDONED)
MACHINE_DRAINABLE = MACHINE_FLOW.sources(M.DRAINING)

WORK_FLOW = register(StateFlow(Work, WorkEvent, "work", moves={
    W.ASSIGNED: {W.RUNNING, W.STOPPING, W.STOPPED, W.FAILED},
    W.RUNNING: {W.STOPPING, W.STOPPED, W.FAILED},
    W.STOPPING: {W.STOPPED, W.FAILED},
    W.STOPPED: set(),
    W.FAILED: set(),
}, final={W.STOPPED, W.FAILED}))
WORK_LIVE = WORK_FLOW.live  # the machine is busy
