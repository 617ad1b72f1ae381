# sample.sh -- make test runs a fast sample of the long checks (options.sh,
# hang.sh, tui.sh, lessons.sh); make check runs them whole, with
# PP_TEST_FULL=1.  `full` is true then: `full && CMD` runs CMD only in the
# whole form.
full() {
    [ -n "${PP_TEST_FULL:-}" ]
}
