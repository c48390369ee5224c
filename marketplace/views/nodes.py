"""Node health: the workspace's nodes, each GPU from the last agent report, the repair to make, the history."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from marketplace.flows import NODE_FLOW
from marketplace.selectors.dashboard import workspace_nodes

from .access import workspace_required

REPAIR_ADVICE = {
    "reboot": "Reboot the node.", "hardware_inspection": "Have the partner inspect the hardware.",
    "check_app": "Check the application on the node (the GPU itself looks fine).",
    "replace": "Replace the node: terminate it and rent another.",
}


@workspace_required()
@require_GET
def node_list(request: HttpRequest) -> HttpResponse:
    nodes = workspace_nodes(request.access.workspace)
    for node in nodes:
        node.gpus = (node.health_report or {}).get("gpus", [])
        node.repair_advice = REPAIR_ADVICE.get(node.health_repair, "")
    live = [n for n in nodes if n.state not in NODE_FLOW.final]
    return render(request, "marketplace/nodes.html", {"live": live, "ended": nodes[len(live):]})
