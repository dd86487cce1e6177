#!/bin/sh
# make demo: run the examples with a private store under build/, then list and show them.
set -e
RP=${1:?usage: demo.sh PATH/TO/runpilot}
here=$(cd "$(dirname "$0")" && pwd)
export RUNPILOT_HOME=${RUNPILOT_HOME:-$(cd "$here/.." && pwd)/build/demo-home}
echo "== runpilot run examples/hello.yaml"
"$RP" run "$here/hello.yaml"
echo
echo "== runpilot run examples/train-linear/config.yaml --param epochs=20"
"$RP" run "$here/train-linear/config.yaml" --param epochs=20
echo
echo "== runpilot list"
"$RP" list
echo
echo "== runpilot show last"
"$RP" show last
echo
echo "== runpilot metrics last"
"$RP" metrics last
echo
echo "(runs are kept in $RUNPILOT_HOME)"
