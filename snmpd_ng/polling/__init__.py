"""Polling: schedules of target and job runs, the job poller, and the result queues.

The service lives in `snmpd_ng.polling.service`. This package exports nothing itself, because
the metrics package imports its modules and the service imports the metrics package.
"""
