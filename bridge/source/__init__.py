"""Reading GitLab: the python-gitlab adapter that turns REST answers into ``bridge.model`` records.

``client`` is the source the use cases call; ``transport`` sends one request with retries and
translates foreign errors once; ``budget`` spaces requests within ``gitlab.budget`` and adapts to
GitLab's throttle, whose settings ``limits`` reads; ``throttle`` counts requests; ``paging``
walks offset and keyset pages; ``signals`` reads GitLab's change signals; ``graphql`` reads many
member lists a request; ``parsing`` (pure) turns JSON into records.

Pure: parsing
Adapters: budget, client, graphql, limits, paging, signals, throttle, transport
"""

from bridge.source.client import GitLabSource

__all__ = ["GitLabSource"]
