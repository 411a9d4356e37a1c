"""Acting on a connected account: power, delete, IBeam's start and stop, new passwords,
tunnels and local ports."""
