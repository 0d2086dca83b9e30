# expect: loop-blocked
# derived: the solution with pprint.pformat of 250,000 ints (~0.23 s of CPU) at the top of each coroutine
