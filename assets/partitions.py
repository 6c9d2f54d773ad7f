"""The one daily partitions definition every day-partitioned family shares."""

from __future__ import annotations

from datetime import datetime

import click
import dagster as dg

from resources import settings


class UnknownDay(dg.DagsterInvalidInvocationError, click.ClickException):
    """A partition key that is not one of the days: one line says why and which days are.

    Also a `click.ClickException`, so the `dagster` CLI prints it as that one line
    (`Error: ...`) instead of a traceback. Not a `DagsterUnknownPartitionError`: the CLI
    catches that one only to replace its message with a vaguer one.
    """

    def __init__(self, message: str) -> None:
        click.ClickException.__init__(self, message)


class DailyPartitions(dg.DailyPartitionsDefinition):
    """Days as `YYYY-MM-DD`; a key in another form or outside the days is refused, naming
    the form and the first and last valid day, wherever a run is created from it."""

    def check_day(self, partition_key: str) -> None:
        try:
            datetime.strptime(partition_key, self.fmt)
            well_formed = True
        except (TypeError, ValueError):
            well_formed = False
        first = self.get_first_partition_key()
        if well_formed and first is not None and partition_key >= first:
            if partition_key <= (last := self.get_last_partition_key() or first):
                return
        else:
            last = self.get_last_partition_key() or first
        problem = "is not a day written YYYY-MM-DD" if not well_formed else "is outside the days"
        raise UnknownDay(
            f"partition {partition_key!r} {problem}: the daily partitions run from "
            f"{first} to {last} (YYYY-MM-DD; FIELDWORK_FIRST_DAY sets the first day)"
        )

    def time_window_for_partition_key(self, partition_key: str) -> dg.TimeWindow:
        self.check_day(partition_key)
        return super().time_window_for_partition_key(partition_key)

    def validate_partition_key(self, partition_key: str, context) -> None:
        self.check_day(partition_key)
        super().validate_partition_key(partition_key, context)


def day_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    """The run's day, refused in one line if it is not one of the days: the webserver creates
    a run from any tag a user types, and only the run, in our code, can tell."""
    day = context.partition_key
    daily_partitions.check_day(day)
    return day


# end_offset=1: today's folder is a partition while it fills up. The first day comes from
# the settings (FIELDWORK_FIRST_DAY), so the UI lists the days that hold data, not years of
# empty partitions.
daily_partitions = DailyPartitions(start_date=settings.first_day(), end_offset=1)
