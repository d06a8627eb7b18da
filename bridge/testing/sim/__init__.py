"""The simulated GitLab: a world of database rows, version profiles and REST API v4 on sockets.

It stands alone: it imports nothing of the bridge but these modules, so it can judge the bridge.
"""
