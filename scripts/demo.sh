#!/bin/sh
# Builds xvsadm and runs the demo (tests/demo) as root: a client, an XDP
# balancer and three real servers in network namespaces, real HTTP traffic
# balanced in direct-routing mode. Extra arguments go to the demo
# (-mode native|generic|auto, -requests N, -clients N, -6).
set -eu
cd "$(dirname "$0")/.."
go build -o bin/xvsadm ./cmd/xvsadm
exec go run ./tests/demo -xvsadm bin/xvsadm "$@"
