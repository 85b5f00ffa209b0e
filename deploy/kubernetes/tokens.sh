#!/bin/sh
# Creates the Secret romana-tokens in romana-system with fresh random tokens:
#   tokens.yaml       romanad's --token-file (the three tokens with their roles)
#   admin-token       the listener's token (role admin)
#   node-token        the agents' and the CNI plugin's token (role node)
#   read-only-token   for Prometheus and read-only users (role read-only)
# Usage: deploy/kubernetes/tokens.sh | kubectl apply -f -
# (prints the Secret; it never replaces an existing one unless you apply it). Needs kubectl and
# od (or openssl). Rotating: run it again, apply, then restart romanad, the agents and the
# listener (docs/kubernetes.md, "Tokens").
set -eu
rand() {
  if command -v openssl >/dev/null 2>&1; then openssl rand -hex 16
  else od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; fi
}
admin=$(rand)
node=$(rand)
ro=$(rand)
tokens="- { token: $admin, role: admin, name: romana-listener }
- { token: $node, role: node, name: romana-agents-and-cni }
- { token: $ro, role: read-only, name: read-only }"
kubectl create secret generic romana-tokens --namespace romana-system \
  --from-literal=tokens.yaml="$tokens" \
  --from-literal=admin-token="$admin" \
  --from-literal=node-token="$node" \
  --from-literal=read-only-token="$ro" \
  --dry-run=client -o yaml
