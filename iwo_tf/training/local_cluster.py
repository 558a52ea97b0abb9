"""A cluster of worker processes on this machine (127.0.0.1), for trying multi-worker training out,
for the tests and for the throughput benchmark. Real clusters write their TF_CONFIG by hand (README,
"Training on several devices or machines")."""
import json
import socket
from typing import List, Sequence


def free_local_ports(count: int) -> List[int]:
    """Ports the OS reports free on 127.0.0.1 (all held open together, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_config(ports: Sequence[int], index: int) -> str:
    """The TF_CONFIG (a JSON string) of worker `index` in a cluster of workers on 127.0.0.1:`ports`."""
    return json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    })
