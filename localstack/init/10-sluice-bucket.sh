#!/usr/bin/env bash
# Runs inside the LocalStack container once S3 and DynamoDB are ready: the bucket `npm start` uses with
# SLUICE_BUCKET=sluice-local. (The test suite creates a fresh bucket of its own for every run.)
set -euo pipefail
awslocal s3api create-bucket --bucket sluice-local >/dev/null 2>&1 || true
echo "sluice: bucket sluice-local ready"
