#!/bin/sh
# Writes deploy/kubernetes/romana.yaml from the kustomize base (test/deploy checks they agree).
set -eu
dir=$(dirname "$0")
{
  echo '# Romana for Kubernetes: kubectl apply -f romana.yaml (docs/kubernetes.md).'
  echo '# Generated from deploy/kubernetes/base by deploy/kubernetes/render.sh: edit the base.'
  kubectl kustomize "$dir/base"
} >"$dir/romana.yaml"
