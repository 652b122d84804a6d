"""Sentinel: the quality gate every output passes before delivery.

Checks (``checks``, ``file_checks``, ``text_check``) each measure one property of an
output and return a :class:`~packshot.sentinel.result.CheckResult` with the measured
value and its threshold; ``gate`` turns a preset's gate settings into a verdict
(deliver, fixed, hold), applying at most the configured number of targeted fixes;
``candidates`` ranks several renderings of one output and keeps the best.
"""
