"""The original wrk's `--latency` output (Debian's wrk 4.1.0), read by the wrk2 adapter."""

from __future__ import annotations

from pathlib import Path

from meshmark_tasks.adapters import parse_file, parse_text

WRK = Path(__file__).resolve().parent.parent / "fixtures" / "wrk"


def test_plain_wrk_distribution_runs_into_the_requests_line() -> None:
    r = parse_file(WRK / "wrk-latency-errors.txt", "wrk2")
    assert r.load_generator == "wrk"
    assert (r.connections, r.duration_s, r.actual_qps) == (8, 2.01, 10735.56)
    # The server counted 2158 answers of 500: wrk's "Non-2xx or 3xx responses".
    assert (r.requests_total, r.errors_total) == (21588, 2158)
    assert (r.latency_ms_p50, r.latency_ms_p75, r.latency_ms_p90, r.latency_ms_p99) == (
        0.595,
        1.12,
        1.93,
        11.44,
    )
    # Plain wrk prints no 99.9% line, no spectrum and no HdrHistogram summary.
    assert (r.latency_ms_p999, r.latency_ms_min) == (None, None)
    # Mean and max come from the Thread Stats "Latency" line.
    assert (r.latency_ms_mean, r.latency_ms_max) == (1.13, 36.33)


def test_plain_wrk_without_any_latency_sample_has_no_latencies() -> None:
    r = parse_file(WRK / "wrk-latency-timeouts.txt", "wrk2")
    assert r.load_generator == "wrk"
    # All 8 completed responses came after --timeout; wrk counted each as a timeout as well.
    assert (r.requests_total, r.errors_total) == (8, 8)
    assert r.model_dump(
        include={"latency_ms_p50", "latency_ms_p99", "latency_ms_mean", "latency_ms_max"}
    ) == {
        "latency_ms_p50": None,
        "latency_ms_p99": None,
        "latency_ms_mean": None,
        "latency_ms_max": None,
    }


def test_plain_wrk_connection_errors_add_attempts_but_late_answers_do_not() -> None:
    text = (WRK / "wrk-latency-errors.txt").read_text()
    edited = text.replace(
        "  Non-2xx or 3xx responses: 2158\n",
        "  Socket errors: connect 2, read 3, write 1, timeout 5\n  Non-2xx or 3xx responses: 2158\n",
    )
    r = parse_text(edited, "wrk2", source="wrk.txt")
    assert (r.requests_total, r.errors_total) == (21588 + 6, 2158 + 5 + 6)


def test_plain_wrk_errors_never_exceed_the_requests() -> None:
    # Every answer both late and a 500: wrk counts each in Non-2xx and in timeout.
    text = (WRK / "wrk-latency-timeouts.txt").read_text()
    edited = text.replace("Requests/sec:", "  Non-2xx or 3xx responses: 8\nRequests/sec:")
    r = parse_text(edited, "wrk2", source="wrk.txt")
    assert (r.requests_total, r.errors_total) == (8, 8)


def test_wrk2_output_still_reads_as_wrk2() -> None:
    r = parse_file(WRK.parent / "upstream" / "wrk2-latency.txt", "wrk2")
    assert r.load_generator == "wrk2"
    assert r.latency_ms_p999 == 12.30
