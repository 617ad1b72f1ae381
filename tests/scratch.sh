# scratch.sh -- sourced, from the checkout's top, by the tests that run
# commands as a lesson shows them: $top is the checkout, $scratch an empty
# folder (removed at exit) where ./demos and ./tests lead into it, so that
# files the commands write are not left in the checkout.
top=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ln -s "$top/demos" "$scratch/demos"
ln -s "$top/tests" "$scratch/tests"   # the schedule files lessons load
