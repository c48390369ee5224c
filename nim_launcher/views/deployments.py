"""Deployments: list, new (model, replicas, policy), the deployment page with a "try it" box, delete."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.matching import MatchResult
from marketplace.models import Role
from marketplace.placement import flatten_errors
from marketplace.selectors.dashboard import rentals_cost
from marketplace.services.metering import BudgetExceeded
from marketplace.services.rentals import NoPlacement
from marketplace.views.access import is_htmx, workspace_required
from marketplace.views.placement_form import PolicyForm, gpu_choices
from marketplace.views.rent import explained_rules
from nim_launcher.api.deployments import DeploymentRequestSerializer, request_extras
from nim_launcher.flows import DEPLOYMENT_ENDING, DEPLOYMENT_FLOW, DEPLOYMENT_SETTLING, REPLICA_FLOW
from nim_launcher.gateway.stats import deployment_stats
from nim_launcher.models import Deployment
from nim_launcher.profiles import CHAT, MODELS, TINY_CHAT_MODEL, UnknownModel
from nim_launcher.selectors import deployment_page, workspace_deployments
from nim_launcher.services.deployments import DeploymentInput, NameTaken, deployment_create, deployment_delete

from .try_it import TryItForm, try_deployment

POLL_SECONDS = 2


def _count(label: str, initial: int) -> forms.CharField:
    return forms.CharField(label=label, initial=str(initial), widget=forms.NumberInput(
        attrs={"min": "1", "max": "32", "step": "1", "inputmode": "numeric"}))


class DeploymentForm(PolicyForm):
    field_order = ["model", "name", "replicas_min", "replicas_max", "gpu", "spot", "spot_fallback",
                   "max_price_per_gpu_hour",
                   "max_hours"]

    model = forms.ChoiceField(label="Model", initial=TINY_CHAT_MODEL,
                              choices=[(m.id, f"{m.description or m.id} — {m.id}") for m in MODELS.values()])
    name = forms.CharField(label="Name", max_length=63, widget=forms.TextInput(attrs={"spellcheck": "false"}),
                           help_text="Lowercase letters, digits and dashes. Clients send it as the `model`.")
    replicas_min = _count("Replicas at least", 1)
    replicas_max = _count("Replicas at most", 1)
    gpu = forms.ChoiceField(label="GPU", required=False,
                            help_text="Leave on “cheapest that fits” to let the broker pick the GPU and profile.")
    spot = forms.BooleanField(label="Spot nodes (interruptible, cheaper)", required=False)
    spot_fallback = forms.BooleanField(
        label="Fall back to on-demand", required=False,
        help_text="When no spot node is left under the policy, replace a preempted replica on demand (billed at that price).")
    max_price_per_gpu_hour = forms.CharField(label="Max price per GPU-hour (USD)", required=False,
                                             widget=forms.NumberInput(attrs={"step": "0.01", "min": "0"}))
    max_hours = forms.CharField(label="Max hours per replica", initial="24", widget=forms.NumberInput(
        attrs={"step": "0.25", "min": "0.01", "inputmode": "decimal"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gpu"].choices = gpu_choices("Cheapest that fits")

    def request_body(self) -> dict:
        """The body of `POST /api/v1/deployments` (DESIGN §5)."""
        data = self.cleaned_data
        body = {"name": data["name"].strip(), "model": data["model"], "policy": self.policy_body(),
                "replicas": {"min": data["replicas_min"].strip(), "max": data["replicas_max"].strip()},
                "gpu": data["gpu"] or None, "spot": data["spot"], "max_hours": data["max_hours"].strip()}
        if data["spot_fallback"]:
            body["spot_fallback"] = True
        if data["max_price_per_gpu_hour"].strip():
            body["max_price_per_gpu_hour"] = data["max_price_per_gpu_hour"].strip()
        return body


def deployment_input(form: DeploymentForm) -> DeploymentInput | None:
    """Validate with the API's serializer (same rules, same messages); errors land on the form."""
    if not form.is_valid():
        return None
    serializer = DeploymentRequestSerializer(data=form.request_body())
    if not serializer.is_valid():
        form.add_api_errors(flatten_errors(serializer.errors))
        return None
    data = serializer.validated_data
    replicas = data.get("replicas") or {"min": 1, "max": 1}
    return DeploymentInput(
        name=data["name"], model=data["model"], replicas_min=replicas["min"], replicas_max=replicas["max"],
        policy=dict(data.get("policy") or {}), gpu=data.get("gpu"), max_hours=data["max_hours"],
        request_extras=request_extras(data))


def _deployment_or_404(request: HttpRequest, deployment_id: int) -> Deployment:
    deployment = deployment_page(request.access.workspace, deployment_id)
    if deployment is None:
        raise Http404("No such deployment in this workspace.")
    return deployment


def endpoint_url() -> str:
    return settings.GATEWAY_PUBLIC_URL or f"{settings.PUBLIC_BASE_URL.rstrip('/')}/v1"


def deployment_context(deployment: Deployment) -> dict:
    replicas = list(deployment.replicas.all())
    now = timezone.now()
    return {
        "deployment": deployment, "replicas": replicas, "endpoint_url": endpoint_url(),
        "live_replicas": [r for r in replicas if r.state not in REPLICA_FLOW.final],
        "cost": rentals_cost((r.rental for r in replicas), now=now), "stats": deployment_stats(deployment.pk),
        "settling": deployment.state in DEPLOYMENT_SETTLING, "poll_seconds": POLL_SECONDS,
        "dead": deployment.state in DEPLOYMENT_FLOW.final,
        "spec": MODELS.get(deployment.model), "chat": getattr(MODELS.get(deployment.model), "kind", CHAT) == CHAT,
    }


@workspace_required()
@require_GET
def deployment_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = []
    for deployment in workspace_deployments(request.access.workspace)[:200]:
        replicas = list(deployment.replicas.all())
        ready = sum(1 for r in replicas if r.state == "ready")
        rows.append((deployment, ready, rentals_cost((r.rental for r in replicas), now=now)))
    return render(request, "nim_launcher/deployments.html", {"rows": rows, "endpoint_url": endpoint_url()})


@workspace_required(min_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def deployment_new(request: HttpRequest) -> HttpResponse:
    form = DeploymentForm(request.POST or None)
    if request.method == "GET":
        return render(request, "nim_launcher/deployment_new.html", {"form": form})
    data = deployment_input(form)
    if data is None:
        return render(request, "nim_launcher/deployment_new.html", {"form": form}, status=400)
    try:
        deployment, _ = deployment_create(workspace=request.access.workspace, user=request.user, data=data)
    except NameTaken as exc:
        form.add_error("name", str(exc))
    except UnknownModel as exc:
        form.add_error("gpu", str(exc))
    except BudgetExceeded as exc:
        form.add_error("max_hours", str(exc))
    except NoPlacement as exc:
        form.add_error(None, "No offer can serve this model under this policy. Relax the highlighted rule.")
        result = MatchResult(placements=(), explanation=exc.explanation)
        return render(request, "nim_launcher/deployment_new.html",
                      {"form": form, "result": result, "rules": explained_rules(exc.explanation)}, status=409)
    else:
        messages.success(request, f"Deployment “{deployment.name}” is starting: the broker is renting its nodes.")
        return redirect("deployments:deployment", deployment_id=deployment.pk)
    return render(request, "nim_launcher/deployment_new.html", {"form": form}, status=409)


@workspace_required()
@require_GET
def deployment_detail(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """The full page, or (htmx poll) its live part, which polls only while the deployment is settling."""
    context = deployment_context(_deployment_or_404(request, deployment_id))
    context["try_form"] = TryItForm()
    template = "nim_launcher/partials/_deployment_live.html" if is_htmx(request) else "nim_launcher/deployment.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@workspace_required(min_role=Role.MEMBER)
@require_POST
def deployment_try(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """Send the prompt through the gateway's routing to a ready replica, as the session's workspace."""
    deployment = _deployment_or_404(request, deployment_id)
    form = TryItForm(request.POST)
    if not form.is_valid():
        return render(request, "nim_launcher/partials/_try_result.html", {"try_form": form}, status=400)
    answer = try_deployment(deployment, form.cleaned_data["prompt"], max_tokens=form.cleaned_data["max_tokens"])
    template = "nim_launcher/partials/_try_result.html" if is_htmx(request) else "nim_launcher/deployment.html"
    context = {"try_form": form, "answer": answer}
    if not is_htmx(request):
        context |= deployment_context(deployment)
    return render(request, template, context, status=200 if answer.ok else 502)


@workspace_required(min_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def deployment_delete_view(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """GET asks for confirmation; POST tears every replica down (idempotent)."""
    deployment = _deployment_or_404(request, deployment_id)
    if request.method == "GET":
        return render(request, "nim_launcher/deployment_delete.html", deployment_context(deployment))
    if deployment.state in DEPLOYMENT_ENDING:
        messages.info(request, f"Deployment “{deployment.name}” is already {deployment.state}.")
    else:
        deployment_delete(deployment, actor=request.user.username)
        messages.success(request, f"Deployment “{deployment.name}” is being deleted: its nodes are being released.")
    return redirect("deployments:deployment", deployment_id=deployment.pk)

