"""Resource metrics of a load test's window (Prometheus for the kubernetes backend)."""
