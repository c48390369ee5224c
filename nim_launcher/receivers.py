"""What nim_launcher does when marketplace announces a change (connected in NimLauncherConfig.ready())."""

from marketplace.models import RentalState
from nim_launcher.services.deployments import deployment_wake_for_rental

# A replica's rental that came up or went away (a spot preemption too) changes what its deployment must do.
WAKING_RENTAL_STATES = frozenset({RentalState.RUNNING, RentalState.TERMINATED, RentalState.PREEMPTED})


def on_rental_state_changed(sender, *, instance, to_state: str, **kwargs) -> None:
    if to_state in WAKING_RENTAL_STATES:
        deployment_wake_for_rental(instance.pk)


def on_node_health_changed(sender, *, rental_id: int, **kwargs) -> None:
    """A degraded or unhealthy node: the deployment replaces its replica."""
    deployment_wake_for_rental(rental_id)


def on_preemption_noticed(sender, *, rental_id: int, **kwargs) -> None:
    """A replica's spot node will be taken back soon: the deployment starts its replacement now."""
    deployment_wake_for_rental(rental_id)
