# expect: loop-blocked
# derived: the solution with time.sleep(0.2) at the top of each coroutine
