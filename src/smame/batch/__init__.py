"""Batch work over a sharded MDMS on a Dask cluster (issue 13, item 5).

Each job — re-VEE, day close, settlement, retention, the day's grid analyses — runs one
task per shard (:mod:`smame.batch.tasks`), each task opening its shard's store alone
(:mod:`smame.batch.runner`), and combines the shards' answers (:mod:`smame.batch.combine`)
into what one store over all the meters would have answered. :mod:`smame.batch.cluster`
connects to a scheduler or starts a local cluster, and gives the commands that start a
scheduler and workers.
"""
