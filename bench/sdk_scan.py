"""The peer of truce's HubSpot full scan in truce-bench scenario 5.

Pages through every contact with the official SDK (hubspot-api-client), the way a data
team's script does it: `crm.contacts.basic_api.get_page(limit=100, after=...)` until no
`paging.next`. On a 429 it waits as the Singer tap `tap-hubspot` does (constant 10 s,
at most 5 tries per request), since the SDK has no limiter of its own.

Usage: python sdk_scan.py HOST TOKEN PROPERTY[,PROPERTY...]
Prints one JSON line: records, pages, 429s seen, wall seconds, peak RSS (KiB).
"""

import json
import resource
import sys
import time

from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException

TRIES = 5
WAIT_S = 10


def main() -> None:
    host, token, properties = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    client = HubSpot(access_token=token, host=host)
    started = time.monotonic()
    records = pages = limited = 0
    after = None
    while True:
        for attempt in range(TRIES):
            try:
                page = client.crm.contacts.basic_api.get_page(
                    limit=100, after=after, properties=properties, archived=False
                )
                break
            except ApiException as err:
                if err.status != 429 or attempt == TRIES - 1:
                    raise
                limited += 1
                time.sleep(WAIT_S)
        records += len(page.results)
        pages += 1
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"records": records, "pages": pages, "limited": limited,
                      "wall_s": wall, "peak_rss_kib": peak}))


if __name__ == "__main__":
    main()
