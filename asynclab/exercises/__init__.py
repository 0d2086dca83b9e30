"""One folder per exercise: its check, its hints as data, its known answers and its instructor note.

An author edits one exercise in one place (as rustlings does). The folder of exercise
"03-stream-workers" is ``ex03_stream_workers/``:

    check.py          the check, registered with ``@exercise(__file__)``
    exercise.toml     id, defines, starter_reason, deadline and the hint ladder
    answers/          known answers: ``<name>.py`` (a whole cell) or ``<name>.edit`` (a small change
                      to the solution's cell), each starting ``# expect: pass`` or ``# expect: <reason>``
    hint_completion.py  the starter with the last hint filled in (tests/test_hints.py)
    instructor.md     what the check measures, the wrong answers learners write, what each gets
"""
