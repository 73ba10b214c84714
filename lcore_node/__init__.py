"""The lcore node: validate, dual-encrypt, store and commit IoT sensor records.

Public entry points: :class:`lcore_node.node.LcoreNode` (in process),
:func:`lcore_node.api.create_app` / :class:`lcore_node.api.ApiServer` (HTTP) and
:class:`lcore_node.client.LcoreHttpClient` (HTTP client with the node's API).
"""

__version__ = "0.1.0"
