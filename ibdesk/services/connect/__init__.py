"""Connecting a login: the plan (region, size, image), the firewall, the provisioner's
steps."""
