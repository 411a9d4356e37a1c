"""cloud-init for the stock image: Docker and IBeam on a plain Ubuntu, no secrets.

The stock path starts from DigitalOcean's base image `ubuntu-24-04-x64` (7 GB, so even
the $4 size fits; see DESIGN.md, "Docker, cloud-init, the stock image") and installs
Docker from Ubuntu's own packages (`docker.io`), so nothing depends on a 1-Click that
DigitalOcean renames or withdraws, and no `ufw limit ssh` throttles ibdesk's own SSH.

The user_data of a droplet can be read back by every process on it (the metadata
service), so it carries no password, token or key: only how to run IBeam. It:

* pulls `voyz/ibeam:0.5.12` (pinned: PYOTP needs 0.5.12, and `latest` may change under
  a running account), retrying because Docker Hub limits anonymous pulls;
* makes IBeam's folders for its container user, uid 1000: the secrets folder
  (1000:1000, 0700, mounted read-only) and the outputs folder (1000:1000), since
  root-owned ones make IBeam shut down or fail before its first log line;
* installs IBeam as a systemd unit that publishes the gateway (5000) and the health
  server (5001) on 127.0.0.1 only, runs the container without `--rm` (so that the
  container and its log outlive a fatal exit, for the doctor to read), and is not
  restarted in a loop (`Restart=no`): repeated wrong passwords would lock the IBKR user.
  The unit is enabled but not started; ibdesk starts it once the secrets are in place.
"""

from __future__ import annotations

from ibdesk.domain import ibeam as ib

UNIT_PATH = "/etc/systemd/system/ibeam.service"
PULL_RETRY = (f"for i in 1 2 3 4 5; do docker pull {ib.IBEAM_IMAGE} && exit 0; sleep 30; "
              "done; exit 1")
"""Docker Hub allows 10 anonymous pulls an hour per address: a busy address retries."""


def render_unit() -> str:
    owner = f"{ib.CONTAINER_UID}:{ib.CONTAINER_GID}"
    return f"""[Unit]
Description=IBeam (Interactive Brokers Client Portal gateway, kept logged in)
After=docker.service network-online.target
Requires=docker.service
Wants=network-online.target

[Service]
# The container runs as {owner} (IBeam's basic_user); its folders belong to that user.
ExecStartPre=-/usr/bin/docker rm -f ibeam
ExecStart=/usr/bin/docker run --name ibeam --env-file {ib.ENV_FILE} \\
  -v {ib.SECRETS_DIR}:{ib.SECRETS_DIR}:ro -v {ib.OUTPUTS_DIR}:{ib.CONTAINER_OUTPUTS_DIR} \\
  -p 127.0.0.1:{ib.GATEWAY_PORT}:{ib.GATEWAY_PORT} -p 127.0.0.1:{ib.HEALTH_PORT}:{ib.HEALTH_PORT} \\
  {ib.IBEAM_IMAGE}
ExecStop=/usr/bin/docker stop ibeam
Restart=no
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
"""


def render_cloud_init(*, swap_mb: int = 0) -> str:
    indented = "".join(f"      {line}\n" if line else "\n" for line in
                       render_unit().splitlines())
    swap = (f"swap:\n  filename: /swapfile\n  size: {swap_mb}M\n  maxsize: {swap_mb}M\n"
            if swap_mb else "")
    uid, gid = str(ib.CONTAINER_UID), str(ib.CONTAINER_GID)
    return (
        "#cloud-config\n"
        f"{ib.CLOUD_INIT_MARKER}\n"
        "# No secret is in this file: ibdesk delivers them over SSH into files that only\n"
        "# IBeam's container user can read.\n"
        f"{swap}"
        "package_update: true\n"
        "packages:\n"
        "  - docker.io\n"
        "write_files:\n"
        f"  - path: {UNIT_PATH}\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        f"{indented}"
        "runcmd:\n"
        f"  - [install, -d, -m, '0700', -o, root, -g, root, {ib.CONF_DIR}]\n"
        f"  - [install, -d, -m, '{ib.SECRET_DIR_MODE:04o}', -o, '{uid}', -g, '{gid}', "
        f"{ib.SECRETS_DIR}]\n"
        f"  - [install, -d, -m, '0700', -o, '{uid}', -g, '{gid}', {ib.OUTPUTS_DIR}]\n"
        f"  - [sh, -c, '{PULL_RETRY}']\n"
        "  - [systemctl, daemon-reload]\n"
        "  - [systemctl, enable, ibeam.service]\n"
    )


__all__ = ["PULL_RETRY", "UNIT_PATH", "render_cloud_init", "render_unit"]
