"""The OpenAI-compatible gateway, included at /v1/ by broker/urls.py."""

from django.urls import path

from nim_launcher.gateway import views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="gateway-chat-completions"),
    path("completions", views.completions, name="gateway-completions"),
    path("embeddings", views.embeddings, name="gateway-embeddings"),
    path("models", views.models, name="gateway-models"),
]
