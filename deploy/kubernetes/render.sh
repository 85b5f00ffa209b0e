#!/bin/sh
# Writes deploy/kubernetes/romana.yaml from the kustomize base (test/deploy checks they agree),
# formatted by prettier like every other file of the tree (`npm run lint` checks it).
set -eu
dir=$(dirname "$0")
out="$dir/romana.yaml"
{
  echo '# Romana for Kubernetes: kubectl apply -f romana.yaml (docs/kubernetes.md).'
  echo '# Generated from deploy/kubernetes/base by deploy/kubernetes/render.sh: edit the base.'
  kubectl kustomize "$dir/base"
} >"$out"
npx prettier --log-level warn --write "$out"
