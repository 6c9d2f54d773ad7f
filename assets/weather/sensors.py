"""Start a day's weather run when its readings or city registry appear or change."""

from assets.day_files import day_files_sensor
from assets.weather.layout import READINGS_PREFIX, is_readings_key


def _is_weather_input(key: str) -> bool:
    # The run reads the files directly in the day's folder, never in a sub-folder.
    in_day_folder = len(key.split("/")) == 3
    return in_day_folder and (is_readings_key(key) or key.endswith("/cities.parquet"))


# The job is defined with the other jobs, by group, in assets/jobs.py.
weather_readings_sensor = day_files_sensor(
    "weather_readings_sensor",
    "weather_daily",
    READINGS_PREFIX,
    _is_weather_input,
    "readings files (readings-*.parquet, cities.parquet)",
)
