"""ammcnet.bench: honest throughput figures (end to end, model only, training) against an eager baseline.

>>> from ammcnet.bench import BenchConfig, run_benchmark, format_report, score_stream
"""

from ammcnet.bench.pipeline import score_stream
from ammcnet.bench.runner import BenchConfig, format_report, run_benchmark
from ammcnet.bench.system import machine_info, peak_memory_mb, time_call

__all__ = ["BenchConfig", "format_report", "machine_info", "peak_memory_mb", "run_benchmark", "score_stream", "time_call"]
