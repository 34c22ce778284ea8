from pgqueue.queue import SCHEMA, Job, Queue

__all__ = ["SCHEMA", "Job", "Queue"]
