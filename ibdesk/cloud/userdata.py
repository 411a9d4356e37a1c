"""cloud-init for the stock Docker image: install IBeam as a systemd unit, no secrets.

The user_data of a droplet can be read back by every process on it (the metadata
service), so it carries no password, token or key: only how to run IBeam. The unit
publishes IBeam's gateway (5000) and health server (5001) on 127.0.0.1 only, reads its
settings from the root-only files that ibdesk writes later over SSH, and is not
restarted in a loop (`Restart=no`): repeated wrong passwords would lock the IBKR user.
It is enabled but not started; ibdesk starts it once the settings are in place.
"""

from __future__ import annotations

from ibdesk.domain import ibeam as ib

IBEAM_IMAGE = "voyz/ibeam:latest"


def render_cloud_init(*, swap_mb: int = 0) -> str:
    unit = f"""[Unit]
Description=IBeam (Interactive Brokers Client Portal gateway, kept logged in)
After=docker.service
Requires=docker.service

[Service]
ExecStartPre=-/usr/bin/docker rm -f ibeam
ExecStart=/usr/bin/docker run --rm --name ibeam --env-file {ib.ENV_FILE} \\
  -v {ib.SECRETS_DIR}:{ib.SECRETS_DIR}:ro -v {ib.OUTPUTS_DIR}:/srv/outputs \\
  -p 127.0.0.1:{ib.GATEWAY_PORT}:{ib.GATEWAY_PORT} -p 127.0.0.1:{ib.HEALTH_PORT}:{ib.HEALTH_PORT} \\
  {IBEAM_IMAGE}
ExecStop=/usr/bin/docker stop ibeam
Restart=no

[Install]
WantedBy=multi-user.target
"""
    indented = "".join(f"      {line}\n" if line else "\n" for line in unit.splitlines())
    swap = (f"swap:\n  filename: /swapfile\n  size: {swap_mb}M\n  maxsize: {swap_mb}M\n"
            if swap_mb else "")
    return (
        "#cloud-config\n"
        f"{ib.CLOUD_INIT_MARKER}\n"
        "# No secret is in this file: ibdesk delivers them over SSH into root-only files.\n"
        f"{swap}"
        "write_files:\n"
        "  - path: /etc/systemd/system/ibeam.service\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        f"{indented}"
        "runcmd:\n"
        f"  - [mkdir, -p, -m, '0700', {ib.CONF_DIR}, {ib.SECRETS_DIR}]\n"
        f"  - [mkdir, -p, {ib.OUTPUTS_DIR}]\n"
        f"  - [docker, pull, {IBEAM_IMAGE}]\n"
        "  - [systemctl, daemon-reload]\n"
        "  - [systemctl, enable, ibeam.service]\n"
    )


__all__ = ["IBEAM_IMAGE", "render_cloud_init"]
