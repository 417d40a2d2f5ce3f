"""Helper process for the Ctrl-C test: starts a long build, reports what is left after SIGINT."""

from __future__ import annotations

import os
import sys
import time

from cogkit import buildkit, llb


def own_sockets() -> list[str]:
    """Abstract unix sockets this process still has bound (cogkit names them with the pid)."""
    tag = f"-{os.getpid()}-"
    with open("/proc/net/unix") as fh:
        return [line.split()[-1] for line in fh.read().splitlines()[1:] if "@cogkit-" in line and tag in line]


def main() -> int:
    base, marker = sys.argv[1], sys.argv[2]
    client = buildkit.connect()

    def build(gw: buildkit.Gateway) -> buildkit.BuildResult:
        _, config = gw.resolve_image_config(base)
        state = llb.image(base).run(["sh", "-c", f"echo started; sleep 300; echo {marker}"], name="long step")
        return buildkit.BuildResult(state.root().marshal(caps=gw.caps), image_config=config)

    print(f"SOCKETS-DURING-SETUP {len(own_sockets())}", flush=True)
    try:
        client.build(build, exporter=None, progress="plain", progress_out=sys.stdout)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    finally:
        client.close()
    time.sleep(0.5)
    print(f"SOCKETS-AFTER {own_sockets()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
