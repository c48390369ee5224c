"""Deployment dashboard pages (the site's shell, access rules and forms come from `marketplace.views`)."""
