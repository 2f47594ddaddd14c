"""Lay out a pod's volumes on this machine and run commands against them; used by test_simple_auth_pod.

Run as root inside a private mount namespace (`unshare -m --propagation private`), so nothing is
visible outside it:  python pod_filesystem.py SPEC.json  ->  a JSON list of {returncode, stdout, stderr}.

SPEC: {"mounts": [{"path": ..., "readOnly": bool, "files": {name: text}}], "commands": [[argv...]]}.
Every mount is a fresh tmpfs (what an emptyDir with medium Memory is); a read-only one is filled, then
remounted read-only, which is how the kubelet presents a Secret volume. /opt is first covered by an empty
tmpfs so the pod's paths (/opt/airflow/...) can be created without touching the host's /opt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(path)], check=True)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    mount_tmpfs(Path("/opt"))
    for volume in spec["mounts"]:
        path = Path(volume["path"])
        mount_tmpfs(path)
        for name, text in volume.get("files", {}).items():
            (path / name).write_text(text)
        if volume.get("readOnly"):
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
    results = []
    for argv in spec["commands"]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        results.append({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
