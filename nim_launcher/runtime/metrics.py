"""Request counters and latency histograms in the Prometheus text format."""

from collections import defaultdict
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.in_flight = 0

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests[(path, status)] += 1
        self.latency[path].observe(seconds)

    def count_tokens(self, prompt: int, completion: int) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def render(self, *, ready: bool) -> str:
        lines = ["# HELP nim_requests_total HTTP requests served, by path and status.",
                 "# TYPE nim_requests_total counter"]
        for (path, status), count in sorted(self.requests.items()):
            lines.append(f'nim_requests_total{{path="{path}",status="{status}"}} {count}')
        lines += ["# HELP nim_request_duration_seconds Time to the end of each response.",
                  "# TYPE nim_request_duration_seconds histogram"]
        for path, hist in sorted(self.latency.items()):
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                lines.append(f'nim_request_duration_seconds_bucket{{path="{path}",le="{bound}"}} {count}')
            lines.append(f'nim_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {hist.total}')
            lines.append(f'nim_request_duration_seconds_sum{{path="{path}"}} {hist.sum:.6f}')
            lines.append(f'nim_request_duration_seconds_count{{path="{path}"}} {hist.total}')
        lines += [
            "# TYPE nim_prompt_tokens_total counter", f"nim_prompt_tokens_total {self.prompt_tokens}",
            "# TYPE nim_generation_tokens_total counter", f"nim_generation_tokens_total {self.completion_tokens}",
            "# TYPE nim_requests_in_flight gauge", f"nim_requests_in_flight {self.in_flight}",
            "# TYPE nim_ready gauge", f"nim_ready {int(ready)}",
        ]
        return "\n".join(lines) + "\n"
