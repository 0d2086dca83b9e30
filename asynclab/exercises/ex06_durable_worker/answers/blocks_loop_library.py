# expect: loop-blocked
# derived: the solution with json.dumps of 2,000,000 ints (~0.3 s of CPU) at the top of each coroutine
