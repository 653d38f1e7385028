"""Where requests go inside a client that uses the local engine.

``.invalid`` never resolves, so nothing could leave the process even by mistake.
"""

LOCAL_BASE_URL = "http://local.invalid/v1"
