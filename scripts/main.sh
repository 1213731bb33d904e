#!/usr/bin/env bash
# The main job: build the course from source/, then, in a throwaway course directory
# (.work/course, so no real gradebook is touched), generate the student release, grade the
# bundled sample submissions of every assignment into nbgrader's SQLite gradebook, write
# nbgrader's feedback HTML and print the scores.
#
#   bash scripts/main.sh           grade with the course's trusted grader (`autograder grade`)
#   bash scripts/main.sh --stock   grade with stock `nbgrader autograde` instead (same scores, slower)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"      # nbgrader runs `alembic` from PATH

echo "== build: source notebooks <-> text forms, release/ and solutions/"
autograder build

course=.work/course
rm -rf "$course" && mkdir -p "$course"
cp -r source templates nbgrader_config.py "$course"/
assignments=$(ls samples)
cd "$course"
for a in $assignments; do
    nbgrader generate_assignment "$a" --force --log-level=WARN
    autograder --course-dir . samples "$a"
done
start=$(date +%s)
for a in $assignments; do
    if [ "${1:-}" = "--stock" ]; then
        echo "== $a: nbgrader autograde"
        PYTHONWARNINGS=ignore::RuntimeWarning nbgrader autograde "$a" --force --log-level=ERROR
    else
        echo "== $a: autograder grade"
        autograder grade "$a" --force --quiet
    fi
done
echo "graded in $(( $(date +%s) - start )) s"
for a in $assignments; do
    nbgrader generate_feedback "$a" --force --log-level=ERROR
done
autograder --course-dir . scores $assignments
# the class report of every assignment, from the verdicts grading stored (scores only with --stock)
autograder --course-dir . report $assignments --quiet
autograder --course-dir . report ps1_rnn_forward
echo "gradebook: $course/gradebook.db"
echo "feedback:  $course/feedback/<student>/<assignment>/*.html"
echo "reports:   $course/report/<assignment>.html"
