"""Unix crons (the stack config's ``schedule``) as Application Auto Scaling expressions.

Application Auto Scaling takes ``cron(minutes hours day-of-month month day-of-week year)``:
six fields, days of the week 1-7 from Sunday, and ``?`` in one of the two day fields
(docs/reference.md#sagemaker). The config's crons are Unix: five fields, days of the week
0-6 from Sunday, and both day fields may be ``*``.
"""

from __future__ import annotations


def _weekday(part: str) -> str:
    """One Unix day-of-week item (a number, a range, a step over either) in AWS's numbering."""
    span, slash, step = part.partition("/")
    if span == "*":
        return part
    first, dash, last = span.partition("-")
    shifted = str(int(first) + 1) + (f"-{int(last) + 1}" if dash else "")
    return shifted + (f"/{step}" if slash else "")


def aws_cron(unix: str) -> str:
    """``0 19 * * 1-5`` -> ``cron(0 19 ? * 2-6 *)``. A cron that names both a day of the
    month and a day of the week (Unix runs it on either) has no AWS equivalent: the config
    refuses it for SageMaker models."""
    minute, hour, day, month, weekday = unix.split()
    if day != "*" and weekday != "*":
        raise ValueError(
            f"{unix!r}: Application Auto Scaling cannot take both a day of the month and a day of the week"
        )
    if weekday == "*":
        return f"cron({minute} {hour} {day} {month} ? *)"
    days = ",".join(_weekday(p) for p in weekday.split(","))
    return f"cron({minute} {hour} ? {month} {days} *)"
