#!/usr/bin/env bash
# Time copying one staged model revision from the weights bucket with the AWS CLI's classic
# transfer client and with its CRT client, on a GPU instance of the fleet (the same command
# the boot runs). Needs AWS: it cannot run on the development machines, so
# benchmarks/cold_start.md carries estimates until someone records a run here.
#
# Run on an instance (SSM Session Manager), for a staged revision:
#   bash s3_download.sh BUCKET MODEL_ID/REVISION/ [REGION]
# Prints one line per client: seconds, GB and GB/s. Each run copies into a fresh folder on
# the root volume and deletes it afterwards.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUCKET PREFIX [REGION]" >&2
  exit 2
fi
bucket=$1
prefix=$2
region=${3:-${AWS_REGION:-us-east-1}}
work=$(mktemp -d /var/tmp/s3-download.XXXXXX)
trap 'rm -rf "$work"' EXIT

for client in classic crt; do
  aws configure set default.s3.preferred_transfer_client "$client"
  target="$work/$client"
  start=$(date +%s.%N)
  aws s3 cp --recursive --only-show-errors --region "$region" "s3://$bucket/$prefix" "$target"
  end=$(date +%s.%N)
  bytes=$(du -sb "$target" | cut -f1)
  awk -v c="$client" -v s="$start" -v e="$end" -v b="$bytes" \
    'BEGIN { t = e - s; printf "%-8s %7.1f s  %6.1f GB  %5.2f GB/s\n", c, t, b / 1e9, b / 1e9 / t }'
  rm -rf "$target"
done
