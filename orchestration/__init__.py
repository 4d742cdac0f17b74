"""Marquee's Dagster code location: assets, checks, resources, jobs, schedules and sensors."""
