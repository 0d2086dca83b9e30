# expect: not-async
# A plain function: nothing can await it, and it blocks whoever calls it.
import time


def pause(seconds: float) -> str:
    time.sleep(seconds)
    return "done"
