"""The main job: run every model case in every framework and write the comparison report.

Run it as ``python3 -m reports --out DIR`` (see README).
"""
