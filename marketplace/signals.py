"""What `marketplace` announces to the apps above it (they listen; it never imports them).

`state_changed` is sent by the one transition function after a compare-and-set succeeded, inside no
transaction the receiver must worry about: receivers that enqueue work use `transaction.on_commit`.
"""

from django.dispatch import Signal

# sender: the model class; kwargs: instance, from_state, to_state, reason, actor
state_changed = Signal()
# sender: the Node model; kwargs: node_id, rental_id, old_health, new_health, repair (sent when a rented
# node turns degraded or unhealthy)
node_health_changed = Signal()
# sender: the Rental model; kwargs: rental_id, preempt_at (a partner announced it will take a spot node back then;
# the rental still runs until `state_changed` says `preempted`)
preemption_noticed = Signal()
