#!/bin/sh
# Overlapping runs: each marks its arrival in $BARRIER_DIR and waits until
# five have arrived (or gives up after about 10 s).
id="$__OW_ACTIVATION_ID"
touch "$BARRIER_DIR/$id"
echo "start $id"
i=0
while [ "$(ls "$BARRIER_DIR" | wc -l)" -lt 5 ] && [ $i -lt 1000 ]; do
  sleep 0.01
  i=$((i + 1))
done
echo "err $id" >&2
echo "out $id"
printf 'partial %s' "$id" >&2
echo "{\"max\": $(ls "$BARRIER_DIR" | wc -l)}"
