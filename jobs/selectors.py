"""Answers to marketplace's questions about the rentals jobs own."""

from collections.abc import Collection

from django.urls import reverse

from jobs.models import JobRun
from marketplace.hooks import RentalOwner


def job_owners(rental_ids: Collection[int]) -> dict[int, RentalOwner]:
    runs = JobRun.objects.filter(rental_id__in=rental_ids).select_related("job")
    return {run.rental_id: RentalOwner("job", run.job.name, reverse("jobs:job", args=[run.job_id])) for run in runs}
