#!/usr/bin/env bash
# CI step for the frozen bundle: build it and run its offline self-test, but only when the last
# commit touched what the bundle is made of (packaging/, pyproject.toml, the shipped model weights).
#
#   bash packaging/ci-check.sh            decide from `git diff --name-only HEAD~1`
#   bash packaging/ci-check.sh --force    run regardless
#
# Exit status: the packaging test's (0 when skipped). Takes ~15-25 min when it runs (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WATCHED='^(packaging/|pyproject\.toml$|desktop_search/core/models/weights/)'

run=0
reason=""
if [[ "${1:-}" == "--force" ]]; then
    run=1; reason="forced"
elif ! git rev-parse --verify -q HEAD >/dev/null; then
    run=1; reason="no commit to compare with"
elif ! git rev-parse --verify -q 'HEAD~1^{commit}' >/dev/null; then
    # a repository with a single commit (or a shallow clone): everything is new
    run=1; reason="no previous commit (single-commit or shallow clone)"
else
    changed="$(git diff --name-only HEAD~1 --)"
    hits="$(grep -E "$WATCHED" <<<"$changed" || true)"
    if [[ -n "$hits" ]]; then
        run=1
        reason="changed since HEAD~1: $(head -5 <<<"$hits" | tr '\n' ' ')"
    fi
fi

if [[ $run == 0 ]]; then
    echo "packaging check skipped: nothing under packaging/, pyproject.toml or desktop_search/core/models/weights/ changed since HEAD~1"
    exit 0
fi

echo "packaging check: running ($reason)"
if [[ ! -x "$PYTHON" ]]; then
    echo "packaging check: $PYTHON missing; creating the dev environment with 'make setup'"
    make setup
fi
started=$SECONDS
set +e
QT_QPA_PLATFORM=offscreen "$PYTHON" -m pytest -m packaging tests/test_packaging.py -p no:cacheprovider -rA
status=$?
set -e
echo "packaging check: exit $status after $(( SECONDS - started )) s"
exit $status
