"""Diagnosing a server: the doctor's checks, IBeam's logs, the redacted support bundle."""
