"""Execution backends: `local` (a real testbed on this machine) and `kubernetes` (pods on a cluster)."""
