"""The long-running service: daemon, jobs, health, status, metrics, systemd, locks and logs.

Pure: status
Adapters: health, jobs, locks, logs, metrics, sdnotify, signals, supervisor
Shell: daemon
"""
