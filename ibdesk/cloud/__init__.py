"""DigitalOcean API v2: the async client and its models."""

from ibdesk.cloud.client import (
    DEFAULT_BASE_URL,
    DigitalOceanClient,
    RateLimitState,
    RetryPolicy,
    classify_error,
)
from ibdesk.cloud.models import (
    Action,
    DOAccount,
    Droplet,
    DropletCreate,
    DropletSummary,
    Firewall,
    FirewallSpec,
    Image,
    InboundRule,
    OutboundRule,
    Region,
    RuleTarget,
    Size,
    SSHKey,
    Tag,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Action",
    "DOAccount",
    "DigitalOceanClient",
    "Droplet",
    "DropletSummary",
    "DropletCreate",
    "Firewall",
    "FirewallSpec",
    "Image",
    "InboundRule",
    "OutboundRule",
    "RateLimitState",
    "Region",
    "RetryPolicy",
    "RuleTarget",
    "SSHKey",
    "Size",
    "Tag",
    "classify_error",
]
