#!/bin/sh
# install.sh [DIR]: installs the servers docs/performance.md compares Parley
# with into DIR (default: a new temporary directory) and prints where. Nothing
# here is committed: the binaries and node_modules live only in DIR.
#
#   DIR/centrifugo   Centrifugo v6.9.1 (go install; may take minutes)
#   DIR/chat         the gorilla/websocket chat example v1.5.3: serves /ws on
#                    --addr and broadcasts every text message to all
#   DIR/ws-broadcast.js, DIR/cluster-probe.js + DIR/node_modules/ws
#                    a broadcast server on the npm ws package:
#                    node DIR/ws-broadcast.js --addr 127.0.0.1:PORT
#
# A peer that fails to install is reported (its log stays in DIR) and the
# others are still installed; the exit status says whether all succeeded.
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
echo "installing peers into $dir"
failed=0

step() { # step NAME LOG COMMAND...: runs COMMAND, logging to DIR/LOG
	name=$1 log=$2
	shift 2
	start=$(date +%s)
	if "$@" >"$dir/$log" 2>&1; then
		echo "  ok    $name ($(($(date +%s) - start))s)"
	else
		echo "  FAIL  $name ($(($(date +%s) - start))s): see $dir/$log; last lines:"
		tail -n 5 "$dir/$log" | sed 's/^/        /'
		failed=1
	fi
}

step "gorilla/websocket chat v1.5.3 -> $dir/chat" chat.log \
	env GOBIN="$dir" GOFLAGS=-buildvcs=false go install github.com/gorilla/websocket/examples/chat@v1.5.3

cp "$here/ws-broadcast.js" "$here/cluster-probe.js" "$dir/"
step "npm ws -> $dir/node_modules/ws" npm.log \
	npm install --prefix "$dir" --no-audit --no-fund --no-save ws@8

step "centrifugo v6.9.1 -> $dir/centrifugo" centrifugo.log \
	env GOBIN="$dir" GOFLAGS=-buildvcs=false go install github.com/centrifugal/centrifugo/v6@v6.9.1

echo "peers in $dir"
exit $failed
