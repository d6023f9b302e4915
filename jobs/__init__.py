"""Background work on huey (SPEC §14): deliveries, schedules, future long jobs.

Each app declares its jobs in its own `jobs.py` (`huey.contrib.djhuey` decorators); `manage.py run_worker` loads
them all and runs huey's consumer, schedule included. The queue is Redis with `REDIS_URL` (production: any number
of workers on any number of hosts take jobs from it), else a SQLite file (the laptop: no extra service).
"""
