"""API keys: hashed at rest, shown once, revocable; Bearer auth scopes requests to the key's workspace."""

from django.core.management import call_command

from marketplace.models import ApiKey
from marketplace.services.api_keys import api_key_revoke, resolve_api_key


def test_key_is_stored_only_as_a_hash(owner):
    key = ApiKey.objects.get(workspace=owner.workspace)
    assert owner.token not in (key.key_hash, key.prefix) and len(key.key_hash) == 64
    assert resolve_api_key(owner.token) == key


def test_revoked_and_forged_keys_are_rejected(owner):
    assert resolve_api_key(owner.token[:-2] + "xx") is None
    api_key_revoke(key=ApiKey.objects.get(workspace=owner.workspace))
    assert resolve_api_key(owner.token) is None
    response = owner.client.get("/api/v1/gpus")
    assert response.status_code == 401


def test_malformed_authorization_header_is_401(anon_client, db):
    anon_client.credentials(HTTP_AUTHORIZATION="Token abc")
    assert anon_client.get("/api/v1/gpus").status_code == 401


def test_create_api_key_command_prints_a_working_key(db, capsys):
    call_command("create_api_key", "--workspace", "ci-team", "--staff")
    token = capsys.readouterr().out.strip()
    key = resolve_api_key(token)
    assert key is not None and key.workspace.name == "ci-team" and key.user.is_staff


def test_a_key_revoked_by_another_process_stops_within_the_cache_ttl(owner, settings, monkeypatch):
    import time

    from django.utils import timezone

    from marketplace.services import api_keys

    settings.API_KEY_CACHE_TTL_S = 2.0
    clock = [time.monotonic()]
    monkeypatch.setattr(api_keys.time, "monotonic", lambda: clock[0])
    assert owner.client.get("/api/v1/workspace").status_code == 200
    ApiKey.objects.filter(workspace=owner.workspace).update(revoked_at=timezone.now())  # not through this process
    clock[0] += 1.9
    assert owner.client.get("/api/v1/workspace").status_code == 200  # still cached
    clock[0] += 0.2
    assert owner.client.get("/api/v1/workspace").status_code == 401


def test_cached_keys_give_each_request_its_own_instances(owner, settings):
    from marketplace.services.api_keys import authenticate_api_key

    settings.API_KEY_CACHE_TTL_S = 60.0
    first = authenticate_api_key(owner.token)
    first.user.username = "changed in one request"
    second = authenticate_api_key(owner.token)
    assert second is not first and second.user.username == owner.user.username
    assert second.workspace == owner.workspace  # loaded fresh when asked for
