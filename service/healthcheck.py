"""Container healthcheck: exit 0 when /health/ready answers 200 (no curl in slim images)."""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("LCAD_PORT", "8000")
    try:
        with urllib.request.urlopen(  # fixed local http URL  # nosec B310
                f"http://127.0.0.1:{port}/health/ready", timeout=4) as r:
            return 0 if r.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
