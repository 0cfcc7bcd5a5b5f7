"""The job engine: jobs and steps as rows, leases, the reaper, job kinds, Celery adapters."""
