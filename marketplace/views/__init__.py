"""Dashboard views, one module per area; each view goes through `access.workspace_required`."""
