"""Speed on a shared machine: a short run alone and beside one other busy 2-thread process,
at the default threads with OpenMP's spinning and passive waiting, and at 1 thread.

    python -m benchmarks.shared_machine [--iterations 200] [--out FILE.json]

Each case is a fresh process (OpenMP reads OMP_WAIT_POLICY when torch loads). The busy
process multiplies matrices on 2 threads, like another user's job. The target: the
slowdown beside it is no worse than the share of the cores it takes (2x on 2 cores).
Not part of ``python -m benchmarks``: the machine must be otherwise quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BUSY = "import torch; torch.set_num_threads(2); a = torch.randn(1024, 1024)\nwhile True: a @ a"
CASES = (  # (name, threads setting, OMP_WAIT_POLICY, beside the busy process)
    ("alone, default threads", None, None, False),
    ("beside a busy job, default threads, OpenMP spinning", None, "ACTIVE", True),
    ("beside a busy job, default threads, passive waiting (growsim's default)", None, None, True),
    ("beside a busy job, 1 thread", 1, None, True),
)


def timed_run(
    spec: str, iterations: int, threads: int | None, policy: str | None, out: Path
) -> float:
    """Wall seconds of one ``growsim run`` in a fresh process."""
    overrides = [
        f"training.iterations={iterations}",
        "training.lr_schedule.warmup=10",
        f"record.every={iterations}",
    ]
    if threads:
        overrides.append(f"training.threads={threads}")
    command = [
        sys.executable,
        "-m",
        "growsim.cli",
        "run",
        spec,
        "--out",
        str(out),
        "--overwrite",
        "--no-progress",
    ]
    for item in overrides:
        command += ["--set", item]
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run every case; print (and write) the rows with each slowdown against running alone."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="specs/quick.yaml")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--render", type=Path, help="print the table of a saved result instead")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name, threads, policy, busy in CASES:
            job = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                time.sleep(2 if busy else 0)
                seconds = timed_run(args.spec, args.iterations, threads, policy, Path(out))
            finally:
                if job:
                    job.kill()
                    job.wait()
            rows.append({"case": name, "wall_s": seconds})
            print(json.dumps(rows[-1]), flush=True)
    alone = rows[0]["wall_s"]
    for row in rows:
        row["slowdown"] = row["wall_s"] / alone
    result = {"spec": args.spec, "iterations": args.iterations, "cores": os.cpu_count(), "rows": rows,
              "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


def render(result: dict) -> str:
    """The Markdown table of a saved result."""
    lines = [f"`{result['spec']}`, {result['iterations']} iterations, {result['cores']} cores; {result['date']}.", "",
             "| case | wall s | slowdown against alone |", "|---|---|---|"]  # fmt: skip
    lines += [
        f"| {row['case']} | {row['wall_s']:.1f} | {row['slowdown']:.2f}x |"
        for row in result["rows"]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
