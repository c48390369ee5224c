"""Fleet pages: the workspace's fleets (create one: its join command shown once), a fleet's machines, and
cordon / uncordon / drain buttons."""

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from fleets.inputs import parse_fleet
from fleets.models import Fleet, Machine
from fleets.services.fleets import describe_inventory, fleet_create
from fleets.services.machines import machine_cordon, machine_drain, machine_uncordon
from marketplace.errors import Conflict, InvalidInput
from marketplace.models import Role
from marketplace.views.access import workspace_required

MACHINE_VERBS = {"cordon": machine_cordon, "uncordon": machine_uncordon, "drain": machine_drain}


def join_command(token: str) -> str:
    return (f"python3 gpubroker-agent.pyz join --broker {settings.PUBLIC_BASE_URL} --token {token} "
            f"--country DE [--region NAME] [--simulated-gpus H100:2]")


@workspace_required()
@require_http_methods(["GET", "POST"])
def fleet_list(request: HttpRequest) -> HttpResponse:
    workspace, created, errors = request.access.workspace, None, {}
    if request.method == "POST":
        if not request.access.can_write:
            return render(request, "marketplace/forbidden.html", {"needed": Role.MEMBER, "role": request.access.role},
                          status=403)
        try:
            name, price = parse_fleet({"name": request.POST.get("name", ""),
                                       "price_per_gpu_hour": request.POST.get("price_per_gpu_hour") or "0"})
            fleet, token = fleet_create(workspace=workspace, name=name, price_per_gpu_hour=Decimal(price))
            created = {"fleet": fleet, "command": join_command(token)}
        except InvalidInput as exc:
            errors = exc.errors
    fleets = Fleet.objects.filter(workspace=workspace).prefetch_related("machines")
    return render(request, "fleets/fleets.html", {"fleets": fleets, "created": created, "errors": errors,
                                                  "section": "fleets"}, status=400 if errors else 200)


def _fleet(request: HttpRequest, fleet_id: int) -> Fleet:
    fleet = Fleet.objects.filter(workspace=request.access.workspace, pk=fleet_id).first()
    if fleet is None:
        raise Http404
    return fleet


@workspace_required()
def fleet_detail(request: HttpRequest, fleet_id: int) -> HttpResponse:
    fleet = _fleet(request, fleet_id)
    machines = [(machine, describe_inventory(machine)) for machine in
                fleet.machines.exclude(state="removed").prefetch_related("events")]
    return render(request, "fleets/fleet.html", {"fleet": fleet, "machines": machines, "section": "fleets"})


@workspace_required(min_role=Role.MEMBER)
@require_POST
def machine_action(request: HttpRequest, fleet_id: int, machine_id: int, verb: str) -> HttpResponse:
    fleet = _fleet(request, fleet_id)
    machine = Machine.objects.filter(fleet=fleet, pk=machine_id).select_related("fleet").first()
    if machine is None or verb not in MACHINE_VERBS:
        raise Http404
    try:
        MACHINE_VERBS[verb](machine, actor=request.user.username)
        messages.success(request, f"{machine.hostname}: {verb} done")
    except Conflict as exc:
        messages.error(request, str(exc))
    return redirect("fleets:fleet", fleet_id=fleet.pk)
