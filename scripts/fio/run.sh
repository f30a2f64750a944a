#!/bin/sh
# Runs every fio job in this directory on a backing directory and on a wekad mount and
# prints the mount's bandwidth / IOPS as a ratio of the backing directory's.
# Usage: scripts/fio/run.sh BACKING_DIR MOUNT_DIR   (needs fio and jq)
set -eu
backing=$1
mount=$2
here=$(cd "$(dirname "$0")" && pwd)
for job in seq-write seq-read rand-read rand-write; do
    for side in "$backing" "$mount"; do
        (cd "$side" && fio --output-format=json "$here/$job.fio") >"/tmp/fio-$job-$(basename "$side").json"
    done
    b=$(jq '.jobs[0] | (.read.bw + .write.bw)' "/tmp/fio-$job-$(basename "$backing").json")
    m=$(jq '.jobs[0] | (.read.bw + .write.bw)' "/tmp/fio-$job-$(basename "$mount").json")
    echo "$job: backing ${b} KiB/s, mount ${m} KiB/s, ratio $(echo "scale=0; 100 * $m / $b" | bc)%"
done
rm -f "$backing/fio-seq" "$mount/fio-seq"
