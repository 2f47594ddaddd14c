"""How trustworthy is one night of the local testbed? Noise, confidence intervals, and what lowers them.

A benchmark, not a test: it runs the local backend for real for many minutes (not part of CI, not
part of `make bench`; run it as `python -m benchmarks.bench_fidelity STAGE ...`). Every repetition's
measurement is saved as one JSON line under var/benchmarks/fidelity/, so analysis (CIs, effects,
change-point detection: benchmarks/fidelity_analysis.py, fidelity_detect.py) reads files and never
needs the run again.

Stages
- `night`: a night of a demo-like profile (profiles/local-demo.yaml with the window, warm-up,
  rates and repetitions given): repetitions in interleaved rounds, for each load point, for each
  round, for each mesh; the order is recorded (`seq`, `round`). Reports, per mesh and load point,
  the CV of p50, p99 and data-plane CPU (app CPU for the baseline) and the 95 % confidence interval
  of the within-night median (meshmark_tasks.stats.median_ci, order statistics) as a half-width in
  % of the median, for the first n rounds (n = 6, 8, 10, ...: what a night of n repetitions gives).
- `steps`: what each noise-reduction step buys. For each step an A/B pair (the testbed before and
  after the step) runs interleaved, A B in odd rounds and B A in even ones, on the same cells, so
  drift and other users' load hit both sides alike; reports both sides' CVs and medians and the
  pair-by-pair ratio B/A. Steps are cumulative, in the order of STEPS.
- `knob`: the "real change" and what it moves: the sidecar mesh with the app doing a fixed amount of
  extra work per request (SHA-256 over N KiB, `TestbedSettings.app_work_kib`) and the sidecar
  switched to its access-logging variant (network function `telemetry`), each interleaved against
  the unchanged sidecar; reports the pair-by-pair change of p50, p99, data-plane and app CPU.
- `record`: the recording behind detection and the nightly's sizing: every round, at each load
  point, every mesh unchanged plus the sidecar mesh with each change (`--changes
  app-work:16,access-log:8`), in an order rotated by one every round; `--until HH:MM` (UTC) starts
  no round that would end later. Reports the unchanged cells as a night (CVs, CIs for n rounds)
  and each change's effect (a paired comparison with the same mesh unchanged in the same rounds,
  `meshmark_tasks.stats.paired_comparison`).
- `detect`: runs nothing. Power and false alarms of the change-point detector the trend report
  uses (`meshmark_tasks.stats.detect_frame`, `ChangePointConfig()` defaults) over nights composed
  from a recording: `benchmarks/fidelity_detect.py` says exactly how.
- `report`: re-analyse saved JSON lines (`--files`) without running anything.

Conditions: this machine has 2 cores shared with other engineers' work; every record carries the
1-minute load average and where each component ran, and every comparison here is interleaved.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from benchmarks import fidelity_detect  # noqa: E402
from benchmarks.fidelity_analysis import detect_lines, read_jsonl, report  # noqa: E402
from meshmark_tasks.backends.local import provision, run_cell, teardown  # noqa: E402
from meshmark_tasks.backends.local.settings import TestbedSettings  # noqa: E402
from meshmark_tasks.matrix import Cell, expand_matrix  # noqa: E402
from meshmark_tasks.profile import Profile, load_profile, profile_from_mapping  # noqa: E402

OUT = REPO / "var" / "benchmarks" / "fidelity"
DEMO_PROFILE = REPO / "profiles" / "local-demo.yaml"
# The testbed as it was before this benchmark existed: no pinning, normal scheduling, CPU over the
# sampler's wall-clock window, 10 Hz sampling. The steps below start from here.
LEGACY = TestbedSettings(cpus="off", scheduling="normal", cpu_window="sampler", sampler_interval_s=0.1)


# -- profiles and cells ---------------------------------------------------------------------------
def demo_like_profile(
    *,
    duration_s: float,
    warmup_s: float,
    qps: Sequence[float],
    repetitions: int,
    extra_meshes: Sequence[dict[str, Any]] = (),
) -> Profile:
    """profiles/local-demo.yaml with the window, warm-up, rates and repetitions replaced."""
    data = yaml.safe_load(DEMO_PROFILE.read_text(encoding="utf-8"))
    data["name"] = "fidelity"
    data["duration_s"] = duration_s
    data["warmup_s"] = warmup_s
    data["repetitions"] = repetitions
    data["matrix"]["qps"] = list(qps)
    data["meshes"] = [*data["meshes"], *extra_meshes]
    return profile_from_mapping(data, str(DEMO_PROFILE))


def _cells_by(profile: Profile) -> dict[tuple[str, float | None, int], Cell]:
    return {(c.mesh, c.requested_qps, c.repetition): c for c in expand_matrix(profile)}


# -- one repetition -------------------------------------------------------------------------------
@dataclass
class Runner:
    """Runs cells in one provisioned working directory and appends each as a JSON line."""

    jsonl: Path
    workdir: Path
    out_dir: Path
    seq: int = 0

    def run(self, profile: Profile, cell: Cell, settings: TestbedSettings, **meta: Any) -> dict[str, Any]:
        provision(profile, self.workdir)
        started = time.time()
        m = run_cell(profile, cell, self.workdir, self.out_dir, settings=settings)
        testbed = json.loads((self.out_dir / f"{cell.cell_id}.testbed.json").read_text(encoding="utf-8"))
        record: dict[str, Any] = {
            **meta,
            "seq": self.seq,
            "started_at": started,
            "wall_s": round(time.time() - started, 3),
            "cell_id": cell.cell_id,
            "mesh": cell.mesh,
            "qps": cell.requested_qps,
            "window_s": profile.duration_s,
            "warmup_s": profile.warmup_s,
            "settings": settings.as_dict(),
            "failure": m.failure,
            "load_average_1m": (m.conditions or {}).get("load_average_1m"),
        }
        if m.result is not None and m.resources is not None:
            cpu_s = {role: _cpu_seconds(testbed, role, "cpu_seconds") for role in ("app", "dataplane")}
            ticks = {role: _cpu_seconds(testbed, role, "cpu_seconds_ticks") for role in ("app", "dataplane")}
            record.update(
                {
                    "p50_ms": m.result.latency_ms_p50,
                    "p90_ms": m.result.latency_ms_p90,
                    "p99_ms": m.result.latency_ms_p99,
                    "max_ms": m.result.latency_ms_max,
                    "requests": m.result.requests_total,
                    "errors": m.result.errors_total,
                    "dropped_iterations": testbed.get("dropped_iterations"),
                    "cpu_dataplane": m.resources.cpu_cores_dataplane,
                    "cpu_app": m.resources.cpu_cores_app,
                    "cpu_seconds_dataplane": cpu_s["dataplane"],
                    "cpu_seconds_app": cpu_s["app"],
                    "cpu_seconds_ticks_dataplane": ticks["dataplane"],
                    "cpu_seconds_ticks_app": ticks["app"],
                    "loadgen_duration_s": m.result.duration_s,
                    "sampler_window_s": testbed.get("window_s"),
                    "loadgen_cpu_seconds": testbed.get("loadgen_cpu_seconds"),
                }
            )
            machine = (m.conditions or {}).get("machine") or {}
            if "busy_cores" in machine and record["sampler_window_s"]:
                ours = (cpu_s["app"] + cpu_s["dataplane"] + (record["loadgen_cpu_seconds"] or 0.0)) / record[
                    "sampler_window_s"
                ]
                record["machine_busy_cores"] = machine["busy_cores"]
                record["other_busy_cores"] = round(machine["busy_cores"] - ours, 3)
        record["measurement"] = m.to_json_dict()
        self.seq += 1
        with self.jsonl.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
        status = (
            "FAILED " + str(m.failure)
            if m.failure
            else f"p50 {record['p50_ms']:.3f} p99 {record['p99_ms']:.2f}"
        )
        print(f"  [{self.seq}] {meta.get('variant', '')} {cell.cell_id}: {status}", file=sys.stderr)
        return record


def _cpu_seconds(testbed: dict[str, Any], role: str, key: str) -> float:
    return float(sum(c.get(key, 0.0) for c in testbed.get("components", []) if c["role"] == role))


def _with_runner(name: str, body: Callable[[Runner], None]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    jsonl = OUT / f"{name}.jsonl"
    base = Path(tempfile.mkdtemp(prefix="meshmark-fidelity-"))
    runner = Runner(jsonl, base / "run", base / "out")
    try:
        body(runner)
    finally:
        teardown(runner.workdir)
    return jsonl


# -- stages ---------------------------------------------------------------------------------------
def run_night(
    label: str,
    profiles: dict[str, Profile],
    settings: TestbedSettings,
    *,
    nights: int = 1,
    changed: Callable[[int], TestbedSettings] | None = None,
) -> Path:
    """Night(s): for each load point, for each round, for each mesh (order recorded in `seq`).

    With several profiles (the same profile at several window lengths), each round runs every
    profile's cells back to back, so the windows are compared under the same machine conditions;
    each profile's repetitions carry its key as their night `label`. With `nights` > 1 the nights
    run one after the other into the same file (`night` = 0, 1, ...), night i with the settings
    `changed(i)` when given: a history for change-point detection.
    """
    cells = {key: expand_matrix(profile) for key, profile in profiles.items()}
    first = next(iter(profiles.values()))
    load_points = list(dict.fromkeys(c.load_point for c in expand_matrix(first)))
    rounds = max(p.repetitions for p in profiles.values())

    def body(runner: Runner) -> None:
        for night in range(nights):
            tonight = settings if changed is None else changed(night)
            for load_point in load_points:
                for round_ in range(rounds):
                    for key, profile in profiles.items():
                        for cell in cells[key]:
                            if cell.load_point == load_point and cell.repetition == round_:
                                runner.run(
                                    profile,
                                    cell,
                                    tonight,
                                    stage="night",
                                    label=key,
                                    night=night,
                                    round=round_,
                                )

    return _with_runner(f"night-{label}", body)


def window_profiles(
    label: str, windows_s: Sequence[float], *, warmup_s: float, repetitions: int, qps: Sequence[float]
) -> dict[str, Profile]:
    """The demo-like profile at each window length, keyed by night label."""
    return {
        (label if len(windows_s) == 1 else f"{label}-w{w:g}"): demo_like_profile(
            duration_s=w, warmup_s=warmup_s, qps=qps, repetitions=repetitions
        )
        for w in windows_s
    }


@dataclass(frozen=True)
class Step:
    """One noise-reduction step: how it changes the settings and/or the profile's warm-up."""

    name: str
    change: Callable[[TestbedSettings], TestbedSettings] = lambda s: s
    warmup_s: float | None = None  # a new warm-up length, if the step is about the warm-up


# In the order they are applied; each step's A is LEGACY with all earlier steps applied.
# How CPU is read and divided (clock vs ticks, load duration vs sampler window) changes nothing that
# runs, so it is compared on the same repetitions (`summarise_cpu_methods`), not as a step.
STEPS: tuple[Step, ...] = (
    Step("sampler-2hz", lambda s: dataclasses.replace(s, sampler_interval_s=0.5)),
    Step("gomaxprocs-1", lambda s: dataclasses.replace(s, gomaxprocs=1)),
    Step("pin-cpus", lambda s: dataclasses.replace(s, cpus="auto")),
    Step("sched-fifo", lambda s: dataclasses.replace(s, scheduling="fifo")),
    Step("warmup-3s", warmup_s=3.0),
)


ALL_STEPS = "all"  # LEGACY against every step applied: what the whole set buys


def _apply(steps: Iterable[Step]) -> tuple[TestbedSettings, float]:
    settings, warmup = dataclasses.replace(LEGACY, cpu_window="loadgen"), 1.0
    for step in steps:
        settings, warmup = step.change(settings), step.warmup_s if step.warmup_s is not None else warmup
    return settings, warmup


def step_pair(
    names: Sequence[str], design: str = "cumulative"
) -> dict[str, tuple[TestbedSettings, float, TestbedSettings, float]]:
    """For each step: (A settings, A warm-up, B settings, B warm-up).

    "cumulative": A has every earlier step of STEPS, B adds this one. "leave-one-out": B has every
    step, A all but this one (what the step buys once everything else is in place).
    """
    pairs = {}
    for index, step in enumerate(STEPS):
        if step.name not in names:
            continue
        if design == "cumulative":
            pairs[step.name] = (*_apply(STEPS[:index]), *_apply(STEPS[: index + 1]))
        else:
            pairs[step.name] = (*_apply(s for s in STEPS if s is not step), *_apply(STEPS))
    if ALL_STEPS in names:
        pairs[ALL_STEPS] = (LEGACY, 1.0, *_apply(STEPS))
    return pairs


def run_steps(
    label: str, names: Sequence[str], *, window_s: float, rounds: int, qps: float, design: str
) -> Path:
    unknown = set(names) - {s.name for s in STEPS} - {ALL_STEPS}
    if unknown:
        raise SystemExit(f"unknown step(s) {sorted(unknown)}; steps: {[s.name for s in STEPS]}")
    pairs = step_pair(names, design)

    def body(runner: Runner) -> None:
        for name in names:
            a, a_warmup, b, b_warmup = pairs[name]
            profiles = {
                "A": demo_like_profile(duration_s=window_s, warmup_s=a_warmup, qps=[qps], repetitions=rounds),
                "B": demo_like_profile(duration_s=window_s, warmup_s=b_warmup, qps=[qps], repetitions=rounds),
            }
            settings = {"A": a, "B": b}
            print(f"step {name}: A={a.as_dict()} B={b.as_dict()}", file=sys.stderr)
            for round_ in range(rounds):
                for mesh in profiles["A"].meshes:
                    for variant in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                        profile = profiles[variant]
                        cell = _cells_by(profile)[(mesh.name, float(qps), round_)]
                        runner.run(
                            profile,
                            cell,
                            settings[variant],
                            stage="steps",
                            label=label,
                            step=name if design == "cumulative" else f"{name} (leave-one-out)",
                            design=design,
                            variant=variant,
                            round=round_,
                        )

    return _with_runner(f"steps-{label}", body)


# Whole testbed configurations to compare side by side (`compare` stage).
CONFIGS: dict[str, TestbedSettings] = {
    "default": TestbedSettings(),
    "legacy": LEGACY,
    "pinned": TestbedSettings(cpus="auto"),
    "unpinned": TestbedSettings(cpus="off"),
    "unpinned-gomaxprocs1": TestbedSettings(cpus="off", gomaxprocs=1),
    "pinned-normal": TestbedSettings(cpus="auto", scheduling="normal"),
    "unpinned-normal": TestbedSettings(cpus="off", scheduling="normal"),
}


def run_compare(
    label: str, names: Sequence[str], *, window_s: float, warmup_s: float, rounds: int, qps: float
) -> Path:
    """Several configurations round-robin on the same cells; the order rotates every round."""
    unknown = set(names) - set(CONFIGS)
    if unknown:
        raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(CONFIGS)}")
    profile = demo_like_profile(duration_s=window_s, warmup_s=warmup_s, qps=[qps], repetitions=rounds)
    cells = _cells_by(profile)

    def body(runner: Runner) -> None:
        for round_ in range(rounds):
            shift = round_ % len(names)
            order = [*names[shift:], *names[:shift]]
            for mesh in profile.meshes:
                for name in order:
                    cell = cells[(mesh.name, float(qps), round_)]
                    runner.run(
                        profile,
                        cell,
                        CONFIGS[name],
                        stage="compare",
                        label=label,
                        variant=name,
                        round=round_,
                        configs=list(names),
                    )

    return _with_runner(f"compare-{label}", body)


def run_knob(
    label: str,
    kibs: Sequence[int],
    log_every: Sequence[int],
    *,
    window_s: float,
    rounds: int,
    qps: float,
    mesh: str = "sidecar",
) -> Path:
    """The change knobs against the unchanged mesh, interleaved (order reversed every other round).

    App-side: `app_work_kib` (SHA-256 per request). Data-plane side: `access_log_every` (both
    sidecars write a JSON access-log entry for one request in N; N = 1 is the `telemetry` variant).
    """
    profile = demo_like_profile(duration_s=window_s, warmup_s=1.0, qps=[qps], repetitions=rounds)
    cells = _cells_by(profile)
    base = TestbedSettings()
    variants: list[tuple[str, TestbedSettings]] = [("unchanged", base)]
    variants += [(f"app-work-{k}kib", dataclasses.replace(base, app_work_kib={mesh: k})) for k in kibs]
    variants += [
        (f"access-log-1-in-{n}", dataclasses.replace(base, access_log_every={mesh: n})) for n in log_every
    ]

    def body(runner: Runner) -> None:
        for round_ in range(rounds):
            for variant, settings in variants if round_ % 2 == 0 else variants[::-1]:
                cell = cells[(mesh, float(qps), round_)]
                runner.run(profile, cell, settings, stage="knob", label=label, variant=variant, round=round_)

    return _with_runner(f"knob-{label}", body)


def parse_changes(text: str) -> dict[str, Callable[[TestbedSettings, str], TestbedSettings]]:
    """`app-work:16,access-log:8` -> variant name -> how it changes the settings for a mesh."""
    changes: dict[str, Callable[[TestbedSettings, str], TestbedSettings]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, size = item.partition(":")
        if not size.isdigit():
            raise SystemExit(f"--changes: {item!r} is not KIND:SIZE (app-work:KIB or access-log:N)")
        n = int(size)
        if kind == "app-work":
            changes[f"app-work-{n}kib"] = lambda s, mesh, n=n: dataclasses.replace(s, app_work_kib={mesh: n})
        elif kind == "access-log":
            changes[f"access-log-1-in-{n}"] = lambda s, mesh, n=n: dataclasses.replace(
                s, access_log_every={mesh: n}
            )
        else:
            raise SystemExit(f"--changes: unknown change {kind!r} (app-work, access-log)")
    return changes


def run_record(
    label: str,
    changes: dict[str, Callable[[TestbedSettings, str], TestbedSettings]],
    *,
    window_s: float,
    warmup_s: float,
    rounds: int,
    qps: Sequence[float],
    mesh: str = "sidecar",
    stop_at: float | None = None,
) -> Path:
    """A recording for detection and CIs: every round, at each load point, every mesh unchanged and
    `mesh` with each change, in an order rotated by one every round (round-robin: no configuration
    always follows the same one). Stops before a round that would end after `stop_at` (epoch s).
    """
    profile = demo_like_profile(duration_s=window_s, warmup_s=warmup_s, qps=qps, repetitions=rounds)
    cells = _cells_by(profile)
    base = TestbedSettings()
    configs: list[tuple[str, str, TestbedSettings]] = [
        (m.name, fidelity_detect.UNCHANGED, base) for m in profile.meshes
    ]
    configs += [(mesh, name, change(base, mesh)) for name, change in changes.items()]

    def body(runner: Runner) -> None:
        round_s = 0.0
        for round_ in range(rounds):
            if stop_at is not None and time.time() + round_s > stop_at:
                print(f"stopping before round {round_}: it would end after the deadline", file=sys.stderr)
                return
            started = time.monotonic()
            shift = round_ % len(configs)
            order = [*configs[shift:], *configs[:shift]]
            for rate in qps:
                for mesh_name, variant, settings in order:
                    runner.run(
                        profile,
                        cells[(mesh_name, float(rate), round_)],
                        settings,
                        stage="record",
                        label=label,
                        variant=variant,
                        round=round_,
                        order=[f"{m}/{v}" for m, v, _ in order],
                    )
            round_s = max(round_s, time.monotonic() - started)

    return _with_runner(f"record-{label}", body)


LONG = True  # hours of real load tests: `make bench` leaves it out; `python -m benchmarks fidelity` runs it
NIGHTLY_PROFILE = REPO / "profiles" / "local-nightly.yaml"
QUICK = os.environ.get("MESHMARK_BENCH_QUICK", "") not in ("", "0")


def run() -> dict[str, Any]:
    """The standard sequence behind docs/benchmarks.md (about 3 h here; MESHMARK_BENCH_QUICK=1: minutes).

    1. every step, cumulative (6 rounds of 6 s windows) and LEGACY against all of them;
    2. the larger steps left out one at a time from the full set (10 rounds);
    3. windows of 6, 15 and 30 s interleaved in one night (12 rounds at 300 req/s);
    4. the change knob and the access-logging variant against the unchanged sidecar (8 rounds);
    5. a night of profiles/local-nightly.yaml as shipped (its cost, and its CIs).
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    rounds = (lambda n: 2) if QUICK else (lambda n: n)
    window = (lambda w: 2.0) if QUICK else (lambda w: w)
    files = [
        run_steps(
            f"std-{stamp}",
            [s.name for s in STEPS] + [ALL_STEPS],
            window_s=window(6),
            rounds=rounds(6),
            qps=300.0,
            design="cumulative",
        ),
        run_steps(
            f"std-loo-{stamp}",
            ["pin-cpus", "sched-fifo", "warmup-3s"],
            window_s=window(6),
            rounds=rounds(10),
            qps=300.0,
            design="leave-one-out",
        ),
        run_night(
            f"windows-{stamp}",
            window_profiles(
                f"windows-{stamp}",
                [window(6), window(15), window(30)] if not QUICK else [2.0, 3.0],
                warmup_s=3.0,
                repetitions=rounds(12),
                qps=[300.0],
            ),
            TestbedSettings(),
        ),
        run_knob(f"std-{stamp}", [32, 64, 128], [1, 2, 4], window_s=window(20), rounds=rounds(8), qps=300.0),
    ]
    nightly = load_profile(NIGHTLY_PROFILE)
    if QUICK:
        nightly = nightly.model_copy(update={"duration_s": 2.0, "repetitions": 2})
    started = time.monotonic()
    files.append(run_night(f"nightly-{stamp}", {f"nightly-{stamp}": nightly}, TestbedSettings()))
    result = report(read_jsonl(files))
    result["nightly_profile_wall_s"] = round(time.monotonic() - started, 1)
    result["files"] = [str(f) for f in files]
    print(result.pop("text"), file=sys.stderr)
    target = REPO / "var" / "benchmarks" / "fidelity.json"
    target.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    night = sub.add_parser("night", help="one night of a demo-like profile, interleaved rounds")
    night.add_argument("--windows", default="6", help="window length(s) in s, comma-separated, interleaved")
    night.add_argument("--warmup", type=float, default=1.0)
    night.add_argument("--reps", type=int, default=10)
    night.add_argument("--qps", default="100,300")
    night.add_argument("--label", default=None)
    night.add_argument(
        "--profile", type=Path, default=None, help="run this profile as it is (e.g. local-nightly)"
    )
    night.add_argument("--legacy", action="store_true", help="the testbed as it was (no noise reduction)")
    night.add_argument("--change-mesh", default=None, help="apply the change knob to this mesh")
    night.add_argument("--change-kib", type=int, default=0, help="app work per request (KiB of SHA-256)")
    night.add_argument("--nights", type=int, default=1, help="nights one after the other (a history)")
    night.add_argument("--change-from", type=int, default=0, help="first night with the change")
    steps = sub.add_parser("steps", help="A/B of noise-reduction steps, interleaved")
    steps.add_argument("--steps", default=",".join(s.name for s in STEPS))
    steps.add_argument("--window", type=float, default=6.0)
    steps.add_argument("--rounds", type=int, default=6)
    steps.add_argument("--qps", type=float, default=300.0)
    steps.add_argument("--label", default=None)
    steps.add_argument("--design", choices=("cumulative", "leave-one-out"), default="cumulative")
    knob = sub.add_parser("knob", help="what the change knob moves, interleaved against no change")
    knob.add_argument("--kib", default="32,64,128")
    knob.add_argument("--log-every", default="1,2,4", help="access-log one request in N (both sidecars)")
    knob.add_argument("--window", type=float, default=20.0)
    knob.add_argument("--rounds", type=int, default=6)
    knob.add_argument("--qps", type=float, default=300.0)
    knob.add_argument("--label", default=None)
    compare = sub.add_parser("compare", help="whole testbed configurations round-robin")
    compare.add_argument("--configs", default="default,legacy", help=f"from {', '.join(CONFIGS)}")
    compare.add_argument("--window", type=float, default=6.0)
    compare.add_argument("--warmup", type=float, default=1.0)
    compare.add_argument("--rounds", type=int, default=10)
    compare.add_argument("--qps", type=float, default=300.0)
    compare.add_argument("--label", default=None)
    record = sub.add_parser("record", help="rounds of every mesh plus changed variants, for CIs and detect")
    record.add_argument("--changes", default="app-work:16,access-log:8", help="KIND:SIZE,... on --mesh")
    record.add_argument("--mesh", default="sidecar")
    record.add_argument("--window", type=float, default=6.0)
    record.add_argument("--warmup", type=float, default=1.0)
    record.add_argument("--rounds", type=int, default=50)
    record.add_argument("--qps", default="300")
    record.add_argument("--until", default=None, help="HH:MM (UTC): start no round that would end later")
    record.add_argument("--label", default=None)
    detect = sub.add_parser("detect", help="power and false alarms over recorded rounds (runs nothing)")
    detect.add_argument("files", nargs="+", type=Path)
    detect.add_argument("--reps-per-night", type=int, default=5)
    detect.add_argument("--history", type=int, default=None, help="nights of history (default: all others)")
    detect.add_argument("--mode", choices=fidelity_detect.MODES, default="permuted")
    detect.add_argument("--orders", type=int, default=3, help="random history orders per test night")
    detect.add_argument("--seed", type=int, default=10)
    sub.add_parser("all", help="the standard sequence behind docs/benchmarks.md (hours)")
    rep = sub.add_parser("report", help="analyse saved JSON lines")
    rep.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    if args.stage == "all":
        run()
        return 0
    if args.stage == "detect":
        result = fidelity_detect.evaluate(
            read_jsonl(args.files),
            reps_per_night=args.reps_per_night,
            history_nights=args.history,
            mode=args.mode,
            orders=args.orders,
            seed=args.seed,
        )
        print("\n".join(detect_lines(result)))
        name = f"{args.files[0].stem}.detect-n{args.reps_per_night}-{args.mode}.json"
        (OUT / name).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"summary: {OUT / name}", file=sys.stderr)
        return 0
    if args.stage == "night":
        settings = LEGACY if args.legacy else TestbedSettings()
        change = dataclasses.replace(settings, app_work_kib={args.change_mesh: args.change_kib})

        def tonight(night: int) -> TestbedSettings:
            return change if args.change_mesh and night >= args.change_from else settings

        if args.profile:
            label = args.label or f"{args.profile.stem}-{stamp}"
            profiles = {label: load_profile(args.profile)}
        else:
            label = args.label or f"r{args.reps}-{stamp}"
            profiles = window_profiles(
                label,
                [float(w) for w in args.windows.split(",")],
                warmup_s=args.warmup,
                repetitions=args.reps,
                qps=[float(q) for q in args.qps.split(",")],
            )
        path = run_night(label, profiles, settings, nights=args.nights, changed=tonight)
    elif args.stage == "steps":
        path = run_steps(
            args.label or stamp,
            args.steps.split(","),
            window_s=args.window,
            rounds=args.rounds,
            qps=args.qps,
            design=args.design,
        )
    elif args.stage == "compare":
        path = run_compare(
            args.label or stamp,
            args.configs.split(","),
            window_s=args.window,
            warmup_s=args.warmup,
            rounds=args.rounds,
            qps=args.qps,
        )
    elif args.stage == "record":
        stop_at = None
        if args.until:
            hour, minute = (int(x) for x in args.until.split(":"))
            now = time.gmtime()
            stop_at = time.time() + ((hour * 60 + minute) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
        path = run_record(
            args.label or stamp,
            parse_changes(args.changes),
            window_s=args.window,
            warmup_s=args.warmup,
            rounds=args.rounds,
            qps=[float(q) for q in args.qps.split(",")],
            mesh=args.mesh,
            stop_at=stop_at,
        )
    elif args.stage == "knob":
        kibs = [int(k) for k in args.kib.split(",") if k]
        every = [int(n) for n in args.log_every.split(",") if n]
        path = run_knob(
            args.label or stamp, kibs, every, window_s=args.window, rounds=args.rounds, qps=args.qps
        )
    files = args.files if args.stage == "report" else [path]
    result = report(read_jsonl(files))
    print(result.pop("text"))
    summary = (OUT / files[0].name).with_suffix(".summary.json")
    summary.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"records: {', '.join(map(str, files))}\nsummary: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
