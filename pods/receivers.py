"""What pods do when marketplace announces a change (connected in PodsConfig.ready())."""

from pods.services.pods import pod_follow_rental


def on_rental_state_changed(sender, *, instance, to_state: str, reason: str = "", **kwargs) -> None:
    pod_follow_rental(instance, to_state, reason)
