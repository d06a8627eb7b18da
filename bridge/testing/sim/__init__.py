"""The simulated GitLab: a world of database rows, version profiles and REST API v4 on sockets.

It stands alone: it imports nothing of the bridge but these modules, so it can judge the bridge.

Test support: access, api, api_access_requests, api_audit, api_events, api_groups, api_members,
api_projects, api_settings, api_users, audit, control, builder, datasets, entities,
entities_projects, faults, grape, graphql, graphql_complexity, graphql_conn, graphql_doc,
graphql_exec, graphql_members, graphql_schema, graphql_validate, http, links, memberships,
pagination, profiles, ratelimit, requesters, rows, rules, server, simulator, sizes, snapshot,
tables, world
"""
