"""Reading GitLab: the python-gitlab adapter that turns REST answers into ``bridge.model`` records.

``client`` is the source the use cases call; ``transport`` sends one request with retries and
translates foreign errors once; ``throttle`` spaces requests and counts them; ``paging`` walks
offset and keyset pages; ``parsing`` (pure) turns JSON into records.

Pure: parsing
Adapters: client, paging, throttle, transport
"""

from bridge.source.client import GitLabSource

__all__ = ["GitLabSource"]
