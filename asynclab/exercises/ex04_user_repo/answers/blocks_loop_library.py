# expect: loop-blocked
# derived: the solution with json.dumps of 500,000 ints, indented (~0.3 s of CPU), at the top of each coroutine
