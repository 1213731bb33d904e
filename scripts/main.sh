#!/usr/bin/env bash
# The main job: build the course from source/, then, in a throwaway course directory
# (.work/course, so no real gradebook is touched), generate the student release, grade the
# bundled sample submissions with `nbgrader autograde` into an SQLite gradebook, write
# nbgrader's feedback HTML and print the scores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"      # nbgrader runs `alembic` from PATH

echo "== build: source notebooks <-> text forms, release/ and solutions/"
autograder build

course=.work/course
rm -rf "$course" && mkdir -p "$course"
cp -r source nbgrader_config.py "$course"/
assignments=$(ls samples)
cd "$course"
for a in $assignments; do
    echo "== $a: release, sample submissions, nbgrader autograde, feedback"
    nbgrader generate_assignment "$a" --force --log-level=WARN
    autograder --course-dir . samples "$a"
    PYTHONWARNINGS=ignore::RuntimeWarning nbgrader autograde "$a" --force --log-level=ERROR
    nbgrader generate_feedback "$a" --force --log-level=WARN
done
autograder --course-dir . scores $assignments
echo "gradebook: $course/gradebook.db"
echo "feedback:  $course/feedback/<student>/<assignment>/*.html"
