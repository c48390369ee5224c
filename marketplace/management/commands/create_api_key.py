from django.core.management.base import BaseCommand, CommandError

from marketplace.services.api_keys import api_key_create, workspace_ensure


class Command(BaseCommand):
    help = "Create the workspace (and its owner) if needed and print one new API key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True)
        parser.add_argument("--owner", help="owner e-mail (default owner@<workspace>.local)")
        parser.add_argument("--staff", action="store_true", help="make the owner a staff user (partner admin)")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, workspace, owner=None, staff=False, name="cli", **options):
        if not workspace.strip():
            raise CommandError("--workspace must not be empty")
        ws, user = workspace_ensure(name=workspace.strip(), owner_email=owner, staff=staff)
        _, token = api_key_create(workspace=ws, user=user, name=name)
        self.stdout.write(token)
