"""``GET /projects/:id/groups`` for instances that lack it (docs/project-groups.md).

``finder`` and ``pagination`` are pure GitLab rules; ``view`` holds the snapshot in memory;
``auth`` asks GitLab itself who may read a project; ``http`` serves it all.

Pure: finder, pagination
Adapters: auth, http, view
"""
