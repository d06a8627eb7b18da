"""The long-running service: daemon, jobs, health, status, metrics, systemd, locks and logs."""
