"""Self-contained HTML reports of a test run (``report.html``): summary, per-video score curves,
ROC, the highest-scoring frames and a sortable per-video table, in one file that needs no network.

>>> from ammcnet.report import REPORT_NAME
>>> REPORT_NAME
'report.html'
"""

from ammcnet.report.html import render_report, write_report
from ammcnet.report.inputs import REPORT_NAME, ReportExtras, ReportInputs, TopFrame, VideoTrace

__all__ = ["REPORT_NAME", "ReportExtras", "ReportInputs", "TopFrame", "VideoTrace", "render_report", "write_report"]
