from django.apps import AppConfig


class NimLauncherConfig(AppConfig):
    name = "nim_launcher"
    verbose_name = "NIM deployments"
