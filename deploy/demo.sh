#!/usr/bin/env bash
# The demo: installs what it needs, builds, brings up a lab and shows it working.
# Leaves the lab running; `node dist/bundle/swarmnet.js lab down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
swarmnet() { node dist/bundle/swarmnet.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

LAB=${LAB:-swarmnet}
step "removing any previous lab '$LAB'"
swarmnet lab down --name "$LAB"
step "lab up: 3 nodes (n1 manager), a client, an isolated underlay"
swarmnet lab up --name "$LAB" --nodes 3 --managers 1
step "lab status"
swarmnet lab status --name "$LAB"
step "n2 pings n1 over the underlay"
swarmnet lab exec --name "$LAB" n2 -- ping -c 2 100.64.1.1
step "etcd health, asked from n1 with its etcd client certificate (etcd answers nobody without one)"
swarmnet lab exec --name "$LAB" n1 -- etcdctl endpoint health
step "the cluster: swarm initialised on n1, n2 and n3 joined"
swarmnet lab exec --name "$LAB" n1 -- swarmnet node ls
step "networks (the ingress overlay comes with swarm init)"
swarmnet lab exec --name "$LAB" n1 -- swarmnet network ls
step "an overlay network and a whoami service: 3 replicas published on 8080 through the routing mesh"
swarmnet lab exec --name "$LAB" n1 -- swarmnet network create -d overlay --attachable demo-net
swarmnet lab exec --name "$LAB" n1 -- swarmnet service create --name web --replicas 3 --network demo-net \
  --publish 8080:80 -- swarmnet whoami --port 80
for _ in $(seq 1 60); do
  swarmnet lab exec --name "$LAB" n1 -- swarmnet service ls | grep -q ' 3/3 ' && break
  sleep 0.5
done
swarmnet lab exec --name "$LAB" n1 -- swarmnet service ls
swarmnet lab exec --name "$LAB" n1 -- swarmnet service ps web
step "from the client namespace (the outside world): 4 requests to each node's address"
for node in 1 2 3; do
  for _ in 1 2 3 4; do
    printf 'GET 100.64.1.%s:8080 -> ' "$node"
    swarmnet lab exec --name "$LAB" client -- curl -s -m 3 "http://100.64.1.$node:8080/" | grep -E '^(Task|Node):' | tr '\n' ' '
    echo
  done
done
step "kernel capabilities (probed by trying, in a scratch namespace)"
swarmnet agent --probe
step "done: the lab is still up. Try: node dist/bundle/swarmnet.js lab exec n1 -- swarmnet agent --probe"
echo "remove it with: node dist/bundle/swarmnet.js lab down --name $LAB"
