"""The long-task worker (`python -m workers`): runs the tasks of the long queue in EKS pods.

Modelled on rq / arq / dramatiq workers. One loop long-polls SQS only when a task slot is free (plus
WORKER_PREFETCH), runs tasks on WORKER_CONCURRENCY threads, extends the visibility of every message it
holds on a heartbeat, commits outcomes through DeliveryHandler.commit and then deletes their messages in
batches. See workers/worker.py for the acknowledgement rules.

Cancellation is cooperative: a running thread cannot be killed, so an attempt whose task was cancelled
or taken over stops at its next `report_progress` call, which raises workers.progress.TaskCancelled.

Shutdown: SIGTERM or SIGINT stops polling at once and turns /readyz false; running tasks get up to
WORKER_DRAIN_SECONDS to finish, and unstarted messages are handed back (visibility 0). A second signal
hands back everything held and exits at once. Exit codes (workers.worker.ExitCode):
  0    drained cleanly
  1    the drain deadline passed; the tasks still running were handed back to the queue
  2    bad configuration (one line on stderr names the variable) or the health port could not be bound
  70   the loop itself crashed (a bug; the traceback is logged)
  130  forced by a second signal
Give the pod a terminationGracePeriodSeconds above WORKER_DRAIN_SECONDS + WORKER_POLL_WAIT_SECONDS.
"""
