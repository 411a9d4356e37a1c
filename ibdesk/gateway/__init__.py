"""Reaching one droplet: SSH (pinned host key, SFTP, fixed commands, forwards) and probes
of its IBeam gateway through that SSH connection."""

from ibdesk.gateway.probe import GatewayProbe, probe
from ibdesk.gateway.ssh import (
    ALLOWED_COMMANDS,
    Endpoint,
    HostKeyChanged,
    Remote,
    connect,
    resolve_endpoint,
)

__all__ = [
    "ALLOWED_COMMANDS",
    "Endpoint",
    "GatewayProbe",
    "HostKeyChanged",
    "Remote",
    "connect",
    "probe",
    "resolve_endpoint",
]
