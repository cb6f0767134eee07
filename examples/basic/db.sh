#!/bin/sh
# A database stand-in that takes a while to load before it is ready.
echo "loading data..."
sleep 1.5
# $HERALD is the herald binary that runs this service; systemd-notify works the same way.
"${HERALD:-herald}" notify --ready --status="Accepting connections"
exec sleep infinity
