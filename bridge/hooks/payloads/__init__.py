"""Pure payload builders: records -> GitLab hook bodies in GitLab's key order (docs/payloads.md).

Pure: build, context, groups, members, projects, shapes, shares, users
"""
