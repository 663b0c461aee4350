#!/usr/bin/env bash
# Runs inside the LocalStack container after the bucket script: Sluice's two tables with the key schemas of
# lib/metadata/dynamodb-schema.ts (prefix sluice_, as `npm start` uses by default), and TTL on the metadata
# table. Sluice would also create them itself on start; creating them here lets
# `aws dynamodb` commands see them at once.
set -euo pipefail
awslocal dynamodb create-table --table-name sluice_metadata --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE >/dev/null 2>&1 || true
awslocal dynamodb create-table --table-name sluice_index --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=N \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE >/dev/null 2>&1 || true
awslocal dynamodb update-time-to-live --table-name sluice_metadata \
  --time-to-live-specification Enabled=true,AttributeName=ttl >/dev/null 2>&1 || true
echo "sluice: tables sluice_metadata and sluice_index ready"
