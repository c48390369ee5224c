"""The OpenAI-compatible inference gateway in front of deployment replicas."""
