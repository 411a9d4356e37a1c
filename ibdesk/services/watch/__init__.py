"""Knowing each account's state: the status rules applied, the monitor, the reconciler
after a crash."""
