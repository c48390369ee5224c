"""The adapter protocol every partner cloud implements, its DTOs and its one error type."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

RENTAL_TAG = "gpu-broker:rental"
# Which broker installation and which partner row launched the node: reconciliation only ever touches nodes
# carrying its own value, so two rows on one cloud account (or staging beside production) leave each other alone.
OWNER_TAG = "gpu-broker:owner"
# `preempted`: the partner took a spot node back (it is gone, like `terminated`, but not because anyone asked).
# `stopped`: only from adapters that can stop a node (`StoppableAdapter`).
NODE_STATES = ("pending", "running", "stopped", "terminated", "failed", "preempted")
ENDED_NODE_STATES = frozenset({"terminated", "failed", "preempted"})

NO_CAPACITY = "no_capacity"
QUOTA_EXCEEDED = "quota_exceeded"
AUTH_FAILED = "auth_failed"
INVALID_REQUEST = "invalid_request"
NOT_FOUND = "not_found"
TRANSIENT = "transient"
ERROR_KINDS = (NO_CAPACITY, QUOTA_EXCEEDED, AUTH_FAILED, INVALID_REQUEST, NOT_FOUND, TRANSIENT)

# Permanent = repeating the same call cannot succeed. Capacity and quota free up when nodes end,
# so the caller may retry them later (or fail over); bad keys and bad requests never fix themselves.
_PERMANENT_BY_KIND = {
    NO_CAPACITY: False,
    QUOTA_EXCEEDED: False,
    AUTH_FAILED: True,
    INVALID_REQUEST: True,
    NOT_FOUND: True,
    TRANSIENT: False,
}


class ProviderError(Exception):
    """A partner call failed; `kind` is one of ERROR_KINDS and `permanent` says whether to retry."""

    def __init__(self, kind: str, message: str, permanent: bool | None = None):
        if kind not in _PERMANENT_BY_KIND:
            raise ValueError(f"unknown provider error kind {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.permanent = _PERMANENT_BY_KIND[kind] if permanent is None else permanent


@dataclass(frozen=True)
class ProviderOffer:
    instance_type: str
    gpu: str  # raw name, as the partner calls it
    gpus_per_node: int
    vcpus: float
    memory_gb: float
    region: str
    price_per_hour: float | None  # on demand; None: the partner sells this shape as spot only (Mithril)
    spot_price_per_hour: float | None = None
    available_nodes: int | None = None  # None = unknown
    interconnect: str = "pcie"


@dataclass(frozen=True)
class PortRule:
    """One inbound TCP port a node needs open, and the IPv4 network allowed to reach it."""

    port: int
    source: str = "0.0.0.0/0"


@dataclass(frozen=True)
class ProvisionSpec:
    idempotency_key: str
    rental_id: str
    instance_type: str
    region: str
    user_data: str = ""
    ssh_public_key: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    spot: bool = False  # launch as a spot (preemptible) node; a partner that cannot must refuse, not fall back
    ports: tuple[PortRule, ...] = ()

    def node_tags(self) -> dict[str, str]:
        """The tags every provisioned node carries: the caller's plus the broker's rental tag."""
        return {**self.tags, RENTAL_TAG: self.rental_id}


@dataclass(frozen=True)
class NodeInfo:
    ref: str
    state: str  # one of NODE_STATES
    region: str
    instance_type: str
    ip: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Where the node's service is reached when not at `ip` and the port the launch opened: the local adapter's
    # loopback URL, a container partner's mapped port (Yotta, Vast). Other partners report `ip` only.
    endpoint: str | None = None
    spot: bool = False
    # A spot node's announced end (ISO 8601, UTC): the partner's notice before it preempts the node.
    preempt_at: str | None = None
    ended_at: str | None = None  # ISO 8601, UTC, when the partner says the node ended (a preemption's second)
    # Where the node's sshd listens and as whom to log in, for partners that report it (Hyperbolic's `sshCommand`,
    # Yotta's and Vast's mapped SSH port); None: port 22 and the image's default user.
    ssh_port: int | None = None
    ssh_user: str | None = None

    @property
    def rental_id(self) -> str | None:
        return self.tags.get(RENTAL_TAG)

    @property
    def owner(self) -> str | None:
        return self.tags.get(OWNER_TAG)


@runtime_checkable
class ProviderAdapter(Protocol):
    kind: str

    def verify(self) -> list[str]:
        """Authenticated calls that prove the credentials and the endpoint work; the GPU names on sale."""

    def list_offers(self) -> list[ProviderOffer]:
        """Every node shape the partner sells, with live capacity when the partner reports it."""

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Start one node; calling again with the same idempotency key returns the same node."""

    def describe(self, ref: str) -> NodeInfo:
        """The node's current state; ProviderError(not_found) if the partner does not know it."""

    def terminate(self, ref: str) -> None:
        """Stop the node; a node that is already gone counts as success."""

    def list_nodes(self) -> list[NodeInfo]:
        """Every live node the broker tagged, for reconciliation."""


@runtime_checkable
class StoppableAdapter(Protocol):
    """An optional capability: the partner stops a node (it keeps its disk and stops billing) and starts it
    again. Adapters that cannot (most partners) simply do not have these methods."""

    def stop(self, ref: str) -> None:
        """Stop the node; one already stopped (or stopping) counts as success."""

    def start(self, ref: str) -> None:
        """Start a stopped node; `describe` reports it `running` (with its new address) once it is up."""


def can_stop(adapter: ProviderAdapter) -> bool:
    return isinstance(adapter, StoppableAdapter)


@dataclass(frozen=True)
class SshTarget:
    """Where the broker logs in to a node to start its plan: the login user runs it with `sudo` unless root.
    `private_key` is the PEM of the partner account's key (the public half is registered at the partner)."""

    host: str
    port: int
    user: str
    private_key: str = field(repr=False)


@runtime_checkable
class SshLaunchedAdapter(Protocol):
    """An optional capability of partners whose create call takes no user data (Hyperbolic, Seeweb): the
    broker starts the node's plan itself, as a script over SSH, once the node is running."""

    def ssh_target(self, node: NodeInfo) -> SshTarget | None:
        """Where to log in to this running node; None while the partner does not report an address yet."""


def is_ssh_launched(adapter: ProviderAdapter) -> bool:
    return isinstance(adapter, SshLaunchedAdapter)


@contextmanager
def already_gone_is_terminated():
    """Terminate is idempotent: a partner that no longer knows the node has nothing left to stop."""
    try:
        yield
    except ProviderError as exc:
        if exc.kind != NOT_FOUND:
            raise
