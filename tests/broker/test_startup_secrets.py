"""Servers refuse to start on the public development secrets outside development; `base_url` secrets refused."""

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from broker.startup import require_own_secrets

REPO = Path(__file__).resolve().parents[2]


def test_production_refuses_the_development_secret_key(settings):
    settings.DEV_SECRETS = False
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is unset"):
        require_own_secrets()


def test_production_refuses_encryption_keys_derived_from_the_secret_key(settings):
    settings.DEV_SECRETS = False
    settings.SECRET_KEY = "a-real-secret"
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is unset"):
        require_own_secrets()


def test_a_malformed_encryption_key_is_refused_even_in_development(settings):
    settings.DEV_SECRETS = True
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        require_own_secrets()


def test_own_secrets_start_silently(settings, capsys):
    settings.DEV_SECRETS = False
    settings.SECRET_KEY = "a-real-secret"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    require_own_secrets()
    assert capsys.readouterr().err == ""


def test_development_runs_on_the_defaults_with_a_warning(settings, capsys):
    settings.DEV_SECRETS = True
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    settings.FIELD_ENCRYPTION_KEYS = []
    require_own_secrets()
    assert "WARNING: development secrets" in capsys.readouterr().err


def test_the_asgi_server_entry_point_refuses_to_load_without_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "VAR_DIR": str(tmp_path), "DEBUG": "false"}
    done = subprocess.run([sys.executable, "-c", "import broker.asgi"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "refusing to start" in done.stderr
