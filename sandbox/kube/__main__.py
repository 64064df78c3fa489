"""Run the Kubernetes stand-in in the foreground (for the demo and for manual poking).

    python -m sandbox.kube --port 8124 --clusters dev,staging,production --kubeconfig var/kubeconfig

Serves one virtual cluster per name under `/clusters/<name>`, writes a kubeconfig with
one context per cluster (named like it), prints the server URL and runs until
interrupted. No operator runs: objects only change when something applies them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sandbox.kube.standin import KubeStandIn


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.kube", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--clusters", default="dev,staging,production", help="comma-separated cluster names")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for every cluster here")
    parser.add_argument("--token", default="portal-token", help="the bearer token the server accepts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start, write the kubeconfig, print the URL, serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = [name.strip() for name in args.clusters.split(",") if name.strip()]
    kube = KubeStandIn(token=args.token, host=args.host, port=args.port, clusters=names)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    kube.start()
    if args.kubeconfig:
        kube.write_kubeconfig(args.kubeconfig)
    print(kube.url, flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        kube.stop()


if __name__ == "__main__":
    main()
