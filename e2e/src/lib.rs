//! End-to-end test support: a real Kubernetes control plane (etcd, kube-apiserver,
//! kube-controller-manager built from their upstream Go modules by
//! `e2e/controlplane/build.sh`) started on loopback by [`launcher`], a [`node_agent`] that
//! registers a Node and runs the pods bound to it as local processes, where the suite's
//! scenarios run, and a real [`node`] (kubelet, kube-proxy, CoreDNS, containerd and runc)
//! that pods from images assembled here run on.
#![forbid(unsafe_code)]

pub mod launcher;
pub mod node;
pub mod node_agent;
pub mod spawner;
