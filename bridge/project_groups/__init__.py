"""``GET /projects/:id/groups`` for instances that lack it (docs/project-groups.md).

``finder`` and ``pagination`` are pure GitLab rules; ``view`` holds the snapshot in memory;
``auth`` asks GitLab itself who may read a project; ``http`` answers requests as GitLab's
API does, ``wire`` parses and encodes HTTP/1.1 strictly, ``connections`` holds the sockets.

Pure: finder, pagination
Adapters: auth, connections, http, view, wire
"""
