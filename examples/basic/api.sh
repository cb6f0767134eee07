#!/bin/sh
echo "$GREETING: connecting to the database"
"${HERALD:-herald}" notify --ready --status="Serving on :8080"
exec sleep infinity
