"""Node routes: the agent's heartbeat and the workspace's read of a node's health."""

from django.urls import path

from .nodes import NodeDetailView, NodeHealthView

urlpatterns = [
    path("nodes/<int:node_id>/health", NodeHealthView.as_view(), name="node-health"),
    path("nodes/<int:node_id>", NodeDetailView.as_view(), name="node-detail"),
]
