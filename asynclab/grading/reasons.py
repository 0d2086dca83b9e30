"""The closed set of reasons a verdict can give, each with one line of meaning.

Tests and known answers assert on these codes, instructors read them in progress summaries,
and learners see them in verdicts: one name per fault, so two checks never call the same
mistake by two names. A new reason is a new member here plus its line in REASON_MEANING
(tests/test_reasons.py proves every member is raised by some check and covered by a known
answer or a judge test).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Reason(StrEnum):
    """Why a submission failed (or how it could not be graded)."""

    SYNTAX_ERROR = "syntax-error"
    CELL_ERROR = "cell-error"
    MISSING_DEFINITION = "missing-definition"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    GRADER_ERROR = "grader-error"
    NOT_FOUND = "not-found"
    NOT_ASYNC = "not-async"
    NOT_A_CLASS = "not-a-class"
    NOT_A_FACTORY = "not-a-factory"
    NOT_A_CONTEXT_MANAGER = "not-a-context-manager"
    MISSING_METHOD = "missing-method"
    ASYNCIO_RUN = "asyncio-run"
    LOOP_BLOCKED = "loop-blocked"
    LOOP_COMPLAINT = "loop-complaint"
    NOT_AWAITED = "not-awaited"
    TOO_FAST = "too-fast"
    WRONG_RESULT = "wrong-result"
    WRONG_ORDER = "wrong-order"
    WRONG_LEN = "wrong-len"
    WRONG_PAYLOAD = "wrong-payload"
    WRONG_EXCEPTION = "wrong-exception"
    WRONG_STATUS = "wrong-status"
    ERROR_SWALLOWED = "error-swallowed"
    ERROR_TOO_LATE = "error-too-late"
    ERROR_NOT_REPORTED = "error-not-reported"
    ERROR_ENDS_STREAM = "error-ends-stream"
    STATUS_UNCHECKED = "status-unchecked"
    CLIENT_ERROR_RETURNED = "client-error-returned"
    SERVER_ERROR_RETURNED = "server-error-returned"
    CLIENT_ERROR_AS_UNAVAILABLE = "client-error-as-unavailable"
    SQL_ERROR_AS_UNAVAILABLE = "sql-error-as-unavailable"
    HTTPX_ERROR_ESCAPED = "httpx-error-escaped"
    DB_ERROR_ESCAPED = "db-error-escaped"
    RESULT_READ_TOO_EARLY = "result-read-too-early"
    SIBLINGS_NOT_CANCELLED = "siblings-not-cancelled"
    CHILDREN_LEFT_RUNNING = "children-left-running"
    CANCELLATION_SWALLOWED = "cancellation-swallowed"
    CANCELLED_AS_VALUE = "cancelled-as-value"
    LEAKED_TASKS = "leaked-tasks"
    TOO_MANY_TASKS = "too-many-tasks"
    OVER_LIMIT = "over-limit"
    TOO_SLOW = "too-slow"
    UNBOUNDED_BUFFER = "unbounded-buffer"
    LOST_URLS = "lost-urls"
    CLIENT_PER_REQUEST = "client-per-request"
    CLIENT_NOT_USED = "client-not-used"
    CONNECTION_CHURN = "connection-churn"
    CONNECTION_PER_QUERY = "connection-per-query"
    POOL_NOT_USED = "pool-not-used"
    POOL_TOO_LARGE = "pool-too-large"
    DSN_IGNORED = "dsn-ignored"
    NOT_CLOSED = "not-closed"
    UNBOUNDED_DOWNSTREAM = "unbounded-downstream"
    TOO_MANY_CONNECTIONS = "too-many-connections"
    NO_DEADLINE = "no-deadline"
    DEADLINE_MISSED = "deadline-missed"
    GAVE_UP_EARLY = "gave-up-early"
    REQUEST_LEFT_RUNNING = "request-left-running"
    QUERY_LEFT_RUNNING = "query-left-running"
    P99_TOO_HIGH = "p99-too-high"
    TASK_LOST = "task-lost"
    NOT_A_TASK = "not-a-task"
    NAME_IGNORED = "name-ignored"
    FINISHED_TASKS_KEPT = "finished-tasks-kept"
    NOT_LOGGED = "not-logged"
    NO_TRACEBACK = "no-traceback"
    LOGGED_TWICE = "logged-twice"
    CANCEL_LOGGED = "cancel-logged"
    CALLBACK_CRASHED = "callback-crashed"
    DRAIN_RAISED = "drain-raised"
    DRAIN_TOO_EAGER = "drain-too-eager"
    DRAIN_LEAVES_TASKS = "drain-leaves-tasks"
    DRAIN_NO_TIMEOUT = "drain-no-timeout"
    DRAIN_UNBOUNDED = "drain-unbounded"
    NOT_DURABLE = "not-durable"
    JOB_LOST = "job-lost"
    NOT_MARKED_DONE = "not-marked-done"
    DUPLICATE_DELIVERY = "duplicate-delivery"
    LEASE_IGNORED = "lease-ignored"
    LEASE_NOT_RENEWED = "lease-not-renewed"
    COMPLETION_NOT_FENCED = "completion-not-fenced"
    HANDLER_ERROR_ENDS_WORK = "handler-error-ends-work"
    NO_RETRY_LIMIT = "no-retry-limit"
    WRONG_RETRY_COUNT = "wrong-retry-count"
    NO_PROGRESS = "no-progress"
    WORKER_QUIT = "worker-quit"
    WORKERS_SERIAL = "workers-serial"
    STOP_IGNORED = "stop-ignored"
    WORKER_CRASHED = "worker-crashed"
    APP_DID_NOT_START = "app-did-not-start"
    NO_ANSWER = "no-answer"
    NO_METRICS = "no-metrics"
    AUDIT_LOST = "audit-lost"
    SHUTDOWN_HANGS = "shutdown-hangs"


REASON_MEANING: Final[dict[Reason, str]] = {
    Reason.SYNTAX_ERROR: "the exercise cell does not compile",
    Reason.CELL_ERROR: "the exercise cell raised while it was being defined",
    Reason.MISSING_DEFINITION: "the cell does not define a name the exercise asks for",
    Reason.CRASHED: "the learner's code raised an unexpected error during the check",
    Reason.TIMEOUT: "the code did not finish within the time the check allows it",
    Reason.GRADER_ERROR: "the grader itself could not run (not the learner's fault)",
    Reason.NOT_FOUND: "no exercise cell for this exercise was found",
    Reason.NOT_ASYNC: "a function that must be `async def` is not",
    Reason.NOT_A_CLASS: "a name that must be a class is not one",
    Reason.NOT_A_FACTORY: "create_app is not a function that builds the app",
    Reason.NOT_A_CONTEXT_MANAGER: "a class that must work with `async with` does not",
    Reason.MISSING_METHOD: "a class lacks a method the exercise asks for",
    Reason.ASYNCIO_RUN: "the code starts a new event loop inside the running one",
    Reason.LOOP_BLOCKED: "the code stalled the event loop (blocking I/O, sleep or CPU work on the loop thread)",
    Reason.LOOP_COMPLAINT: "asyncio itself reported a problem (an exception nobody retrieved, a task destroyed pending)",
    Reason.NOT_AWAITED: "a coroutine was created but never run",
    Reason.TOO_FAST: "returned before the wait it was asked for: a sleep created but not awaited",
    Reason.WRONG_RESULT: "the value returned is not the expected one",
    Reason.WRONG_ORDER: "the right values in the wrong order",
    Reason.WRONG_LEN: "a count reported by the code is wrong",
    Reason.WRONG_PAYLOAD: "a handler was called with something other than the job's payload",
    Reason.WRONG_EXCEPTION: "the code raised, but not the exception the contract names",
    Reason.WRONG_STATUS: "the service answered with the wrong HTTP status",
    Reason.ERROR_SWALLOWED: "a failure was turned into a normal-looking result",
    Reason.ERROR_TOO_LATE: "a failure came out long after it happened",
    Reason.ERROR_NOT_REPORTED: "the code raised instead of reporting each failure in its result",
    Reason.ERROR_ENDS_STREAM: "one failing item stopped the processing of all the others",
    Reason.STATUS_UNCHECKED: "an HTTP error status was treated as success",
    Reason.CLIENT_ERROR_RETURNED: "a 4xx answer was returned as if it were the body",
    Reason.SERVER_ERROR_RETURNED: "a 5xx answer was returned as if it were the body",
    Reason.CLIENT_ERROR_AS_UNAVAILABLE: "a 4xx answer (the caller's mistake) was reported as the service being unavailable",
    Reason.SQL_ERROR_AS_UNAVAILABLE: "a failing SQL statement (a bug) was reported as the database being unavailable",
    Reason.HTTPX_ERROR_ESCAPED: "an httpx exception leaked through an API that promises its own exception",
    Reason.DB_ERROR_ESCAPED: "a database driver exception leaked through an API that promises its own exception",
    Reason.RESULT_READ_TOO_EARLY: "a task's result was read before the task was done",
    Reason.SIBLINGS_NOT_CANCELLED: "after one request failed, the others kept running",
    Reason.CHILDREN_LEFT_RUNNING: "after the caller was cancelled, the work it started kept running",
    Reason.CANCELLATION_SWALLOWED: "a cancellation was caught and not re-raised, or turned into something else",
    Reason.CANCELLED_AS_VALUE: "a cancellation was reported as an ordinary result",
    Reason.LEAKED_TASKS: "tasks were still running after the function that started them returned",
    Reason.TOO_MANY_TASKS: "far more tasks alive at once than the concurrency limit needs",
    Reason.OVER_LIMIT: "more requests in flight at once than the limit allows",
    Reason.TOO_SLOW: "much slower than the ideal: work ran one after another, or under a too-small limit",
    Reason.UNBOUNDED_BUFFER: "items were taken from a stream far ahead of the workers: memory grows with the input",
    Reason.LOST_URLS: "items of the stream never reached the sink, or reached it twice",
    Reason.CLIENT_PER_REQUEST: "new HTTP clients (new connection pools) instead of reusing the one there is",
    Reason.CLIENT_NOT_USED: "the request did not go through the client that was given",
    Reason.CONNECTION_CHURN: "new connections to the partner kept being opened instead of reused",
    Reason.CONNECTION_PER_QUERY: "a database connection (or pool) per query instead of one shared pool",
    Reason.POOL_NOT_USED: "the query did not go through the pool that was given",
    Reason.POOL_TOO_LARGE: "the pool holds more connections than its maximum allows",
    Reason.DSN_IGNORED: "the connection string that was given was not used",
    Reason.NOT_CLOSED: "a client, pool or connection was never closed",
    Reason.TOO_MANY_CONNECTIONS: "more connections at once than the pool limit the code was given",
    Reason.UNBOUNDED_DOWNSTREAM: "the partner saw more concurrent calls than the service's limit",
    Reason.NO_DEADLINE: "a call to a server that never answers was still waiting: no deadline at all",
    Reason.DEADLINE_MISSED: "the call gave up, but well after its deadline",
    Reason.GAVE_UP_EARLY: "the call gave up before its deadline, on a server that would have answered in time",
    Reason.REQUEST_LEFT_RUNNING: "after giving up, the HTTP request was still open at the server",
    Reason.QUERY_LEFT_RUNNING: "after giving up, the SQL query was still running on the server",
    Reason.P99_TOO_HIGH: "the slowest 1% of requests took far longer than the deadline",
    Reason.TASK_LOST: "a spawned task was garbage-collected while it ran: nothing kept a reference",
    Reason.NOT_A_TASK: "spawn() did not return the task it created",
    Reason.NAME_IGNORED: "spawn() ignored the task name it was given",
    Reason.FINISHED_TASKS_KEPT: "finished tasks stayed in the registry: it grows with every task ever spawned",
    Reason.NOT_LOGGED: "a background task failed silently: nothing was logged at ERROR",
    Reason.NO_TRACEBACK: "a failure was logged without its traceback",
    Reason.LOGGED_TWICE: "one failure was logged more than once",
    Reason.CANCEL_LOGGED: "a plain cancellation was logged as an error",
    Reason.CALLBACK_CRASHED: "a done-callback raised",
    Reason.DRAIN_RAISED: "drain() raised instead of returning",
    Reason.DRAIN_TOO_EAGER: "drain() cancelled a task that would have finished in time",
    Reason.DRAIN_LEAVES_TASKS: "drain() returned while a task was still running",
    Reason.DRAIN_NO_TIMEOUT: "drain() ignored its timeout and kept waiting",
    Reason.DRAIN_UNBOUNDED: "drain() waited without bound for a task that ignores its cancellation",
    Reason.NOT_DURABLE: "the job lives only in memory: a restart loses it",
    Reason.JOB_LOST: "a job whose worker died is gone or stuck forever",
    Reason.NOT_MARKED_DONE: "jobs that finished are still marked queued or running",
    Reason.DUPLICATE_DELIVERY: "two live workers ran the same job",
    Reason.LEASE_IGNORED: "a job was leased for far longer than the lease the exercise sets",
    Reason.LEASE_NOT_RENEWED: "a long job's lease expired while it ran, so another worker ran it too",
    Reason.COMPLETION_NOT_FENCED: "a worker that lost its lease still marked the job done",
    Reason.HANDLER_ERROR_ENDS_WORK: "one failing handler stopped the worker",
    Reason.NO_RETRY_LIMIT: "a job that always fails is retried forever",
    Reason.WRONG_RETRY_COUNT: "a failing job was tried a different number of times than the limit",
    Reason.NO_PROGRESS: "no worker picked up a job that was waiting",
    Reason.WORKER_QUIT: "work() returned on its own before it was told to stop",
    Reason.WORKERS_SERIAL: "several workers never ran jobs at the same time",
    Reason.STOP_IGNORED: "work() kept running after it was told to stop",
    Reason.WORKER_CRASHED: "the check's worker processes did not start",
    Reason.APP_DID_NOT_START: "the app did not start under uvicorn",
    Reason.NO_ANSWER: "a request to the service got no answer",
    Reason.NO_METRICS: "the service's /metrics endpoint did not answer",
    Reason.AUDIT_LOST: "background work accepted before shutdown was lost",
    Reason.SHUTDOWN_HANGS: "the service did not exit after SIGTERM",
}
