"""Sign up, sign in/out and switching the active workspace."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView, LogoutView
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from marketplace.models import Membership, Role, Workspace

from .access import SESSION_KEY


@transaction.atomic
def account_signup(*, email: str, password: str, workspace_name: str) -> tuple[User, Workspace]:
    """Create a user (username = email) and a workspace they own."""
    user = User.objects.create_user(username=email, email=email, password=password)
    workspace = Workspace.objects.create(name=workspace_name)
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    return user, workspace


class SignupForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=150,
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    workspace = forms.CharField(label="Workspace name", max_length=100,
                                help_text="Your team or project; you can invite others later.",
                                widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    password = forms.CharField(label="Password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               help_text="At least 8 characters, not a common password.")
    password_confirm = forms.CharField(label="Password again", strip=False,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(username__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email

    def clean_workspace(self) -> str:
        name = self.cleaned_data["workspace"].strip()
        if Workspace.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("This workspace name is taken. Pick another.")
        return name

    def clean(self):
        cleaned = super().clean()
        password, confirm = cleaned.get("password"), cleaned.get("password_confirm")
        if password and confirm and password != confirm:
            self.add_error("password_confirm", "The two passwords differ.")
        elif password:
            try:
                password_validation.validate_password(password, User(username=cleaned.get("email") or ""))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with the email address (accounts use it as their username)."""

    username = forms.CharField(label="Email", max_length=150,
                               widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))

    def clean(self):
        if self.cleaned_data.get("username"):
            self.cleaned_data["username"] = self.cleaned_data["username"].strip().lower()
        return super().clean()


class SignInView(LoginView):
    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class SignOutView(LogoutView):
    next_page = "dashboard:login"


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:offers")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, workspace = account_signup(email=form.cleaned_data["email"], password=form.cleaned_data["password"],
                                         workspace_name=form.cleaned_data["workspace"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = workspace.pk
        messages.success(request, f"Welcome! Workspace “{workspace.name}” is ready.")
        return redirect(_safe_next(request))
    # `next`: where the visitor was going (the rent form of the offer they picked) before signing up.
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    return render(request, "registration/signup.html", {"form": form, "next": next_url},
                  status=400 if form.errors else 200)


@require_POST
def switch_workspace(request: HttpRequest) -> HttpResponse:
    """Make another of the user's workspaces the active one."""
    if not request.user.is_authenticated:
        return redirect("dashboard:login")
    target = _safe_next(request)
    try:
        wanted = int(request.POST.get("workspace_id", ""))
    except ValueError:
        wanted = None
    membership = Membership.objects.filter(user=request.user, workspace_id=wanted).select_related("workspace").first()
    if membership is None:
        messages.error(request, "You are not a member of that workspace.")
        return redirect(target)
    request.session[SESSION_KEY] = membership.workspace_id
    messages.success(request, f"Switched to workspace “{membership.workspace.name}” ({membership.role}).")
    return redirect(target)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("dashboard:offers")
