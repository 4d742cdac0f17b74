"""Importers that turn public data sets into landing-zone files (SPEC §3).

Each importer only *writes files* into ``$MARQUEE_HOME/landing/{events,titles,users}/``; the
normal ingestion then picks them up like any other arrival. See :mod:`.movielens`.
"""
