"""What `marketplace` announces to the apps above it (they listen; it never imports them).

`state_changed` is sent by the one transition function after a compare-and-set succeeded, inside no
transaction the receiver must worry about: receivers that enqueue work use `transaction.on_commit`.
"""

from django.dispatch import Signal

# sender: the model class; kwargs: instance, from_state, to_state, reason, actor
state_changed = Signal()
# sender: the Node model; kwargs: node, old_health, new_health
node_health_changed = Signal()
