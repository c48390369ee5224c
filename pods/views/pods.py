"""Pods: list, new (GPU, key, Jupyter, idle timeout, policy), the pod page (SSH command, Jupyter link,
activity, cost), and stop / start / terminate."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import Conflict, InvalidInput
from marketplace.models import Role
from marketplace.services.metering import BudgetExceeded
from marketplace.services.rentals import NoPlacement
from marketplace.views.access import workspace_required
from marketplace.views.placement_form import PolicyForm, gpu_choices
from pods.api.inputs import parse_pod_request
from pods.flows import POD_FLOW
from pods.models import Pod
from pods.selectors import pod_view, workspace_pods
from pods.services.pods import NameTaken, pod_create, pod_start, pod_stop, pod_terminate
from pods.ssh_keys import FIELD as SSH_KEY_FIELD


class PodForm(PolicyForm):
    field_order = ["name", "gpu", "ssh_public_key", "jupyter", "idle_timeout_minutes", "max_hours"]

    name = forms.CharField(label="Name", max_length=63, widget=forms.TextInput(attrs={"spellcheck": "false"}),
                           help_text="Lowercase letters, digits and dashes.")
    gpu = forms.ChoiceField(label="GPU", required=False)
    ssh_public_key = forms.CharField(label="SSH public key", widget=forms.Textarea(attrs={
        "rows": 3, "spellcheck": "false", "placeholder": "ssh-ed25519 AAAA… you@laptop"}),
        help_text="The contents of your ~/.ssh/id_ed25519.pub (the public half, never the private key).")
    jupyter = forms.BooleanField(label="JupyterLab", required=False, initial=True)
    idle_timeout_minutes = forms.CharField(label="Stop when idle for (minutes)", initial="60",
                                           help_text="No SSH session, busy kernel or busy GPU for this long; 0 = never.",
                                           widget=forms.NumberInput(attrs={"min": "0", "step": "1"}))
    max_hours = forms.CharField(label="Max hours", initial="24", widget=forms.NumberInput(
        attrs={"step": "0.25", "min": "0.01", "inputmode": "decimal"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gpu"].choices = gpu_choices("Cheapest available")

    def request_body(self) -> dict:
        """The body of `POST /api/v1/pods` (DESIGN §12)."""
        data = self.cleaned_data
        return {"name": data["name"].strip(), "gpu": data["gpu"] or None, "ssh_public_key": data["ssh_public_key"],
                "jupyter": data["jupyter"], "idle_timeout_minutes": data["idle_timeout_minutes"].strip(),
                "max_hours": data["max_hours"].strip(), "policy": self.policy_body()}


def _pod_or_404(request: HttpRequest, pod_id: int) -> Pod:
    pod = workspace_pods(request.access.workspace).filter(pk=pod_id).first()
    if pod is None:
        raise Http404("No such pod in this workspace.")
    return pod


@workspace_required()
@require_GET
def pod_list(request: HttpRequest) -> HttpResponse:
    return render(request, "pods/pods.html", {"pods": [pod_view(p) for p in workspace_pods(request.access.workspace)[:200]]})


@workspace_required(min_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def pod_new(request: HttpRequest) -> HttpResponse:
    """On success the pod page is rendered here, with the Jupyter token that is never shown again."""
    form = PodForm(request.POST or None)
    if request.method == "GET":
        return render(request, "pods/pod_new.html", {"form": form})
    if not form.is_valid():
        return render(request, "pods/pod_new.html", {"form": form}, status=400)
    try:
        data = parse_pod_request(form.request_body())
        pod, _, token = pod_create(workspace=request.access.workspace, user=request.user, data=data)
    except InvalidInput as exc:
        if SSH_KEY_FIELD in exc.errors:  # never send back what was pasted there: it may be a private key
            form.data = form.data.copy()
            form.data[SSH_KEY_FIELD] = ""
        form.add_api_errors(exc.errors)
        return render(request, "pods/pod_new.html", {"form": form}, status=400)
    except NameTaken as exc:
        form.add_error("name", str(exc))
    except BudgetExceeded as exc:
        form.add_error("max_hours", str(exc))
    except NoPlacement:
        form.add_error(None, "No offer matches this GPU under these rules. Relax a rule or pick another GPU.")
    else:
        response = render(request, "pods/pod.html", {"view": pod_view(pod, jupyter_token=token), "created": True, "live": True},
                          status=201)
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "pods/pod_new.html", {"form": form}, status=409)


@workspace_required()
@require_GET
def pod_detail(request: HttpRequest, pod_id: int) -> HttpResponse:
    pod = _pod_or_404(request, pod_id)
    response = render(request, "pods/pod.html", {"view": pod_view(pod), "live": pod.state not in POD_FLOW.final})
    response["Cache-Control"] = "no-store"
    return response


@workspace_required(min_role=Role.MEMBER)
@require_POST
def pod_action(request: HttpRequest, pod_id: int, verb: str) -> HttpResponse:
    pod = _pod_or_404(request, pod_id)
    actor = request.user.username
    try:
        if verb == "stop":
            pod_stop(pod, reason=f"stopped by {actor}", actor=actor)
        elif verb == "start":
            pod_start(pod, actor=actor)
        elif verb == "terminate":
            pod_terminate(pod, actor=actor)
        else:
            raise Http404("No such action.")
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Pod “{pod.name}”: {verb} requested.")
    return redirect("pods:pod", pod_id=pod.pk)
