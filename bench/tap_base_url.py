"""Reads tap-hubspot's own source (installed by ensure_tap_venv.sh) to answer: can the tap
be pointed at a local base URL through its config, without patching it?

Prints one JSON line: version, the base URL constant, whether any config key sets it, and
the contacts endpoint it reads.
"""

import importlib.metadata
import json

import tap_hubspot

keys = sorted(tap_hubspot.CONFIG)
print(json.dumps({
    "version": importlib.metadata.version("tap-hubspot"),
    "base_url": tap_hubspot.BASE_URL,
    "config_keys": keys,
    "configurable": any("url" in k and k != "redirect_uri" for k in keys),
    "contacts_endpoint": tap_hubspot.ENDPOINTS.get("contacts"),
}))
