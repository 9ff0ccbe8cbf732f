"""The review half of the coach app: dashboard, session page and charts, sensor data and its
recording CSV, athlete trends and load-velocity profile, CSV exports.

Blueprints (registered in ``coach.routes``): ``dashboard_page.bp``, ``session_pages.bp``,
``athlete_pages.bp``, ``exports.bp``. Data access and charts are plain functions over a
psycopg2 connection (``session_detail``, ``rep_sets``, ``series_record``, ``raw_series``,
``dashboard``, ``trends``, ``charts``), testable without Flask; ``series_jobs`` computes a
missing display-series record in the background.
"""
