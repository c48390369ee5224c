"""Workspace settings owners change: the monthly budget."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from marketplace.models import Role, Workspace

from .access import workspace_required


class BudgetForm(forms.ModelForm):
    monthly_budget = forms.DecimalField(
        label="Monthly budget (USD)", required=False, min_value=Decimal(0), max_digits=12, decimal_places=2,
        help_text="Spending per calendar month; leave empty for no limit.",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "0"}))

    class Meta:
        model = Workspace
        fields = ["monthly_budget"]


@workspace_required(min_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def budget(request: HttpRequest) -> HttpResponse:
    workspace = request.access.workspace
    form = BudgetForm(request.POST or None, instance=workspace)
    if request.method == "POST" and form.is_valid():
        form.save()
        amount = form.cleaned_data["monthly_budget"]
        messages.success(request, f"Monthly budget set to ${amount:,.2f}." if amount is not None
                         else "Monthly budget removed: spending is unlimited.")
        return redirect("dashboard:budget")
    return render(request, "marketplace/budget.html", {"form": form}, status=400 if form.errors else 200)
