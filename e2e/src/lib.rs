//! End-to-end test support: a real Kubernetes control plane (etcd, kube-apiserver,
//! kube-controller-manager built from their upstream Go modules by
//! `e2e/controlplane/build.sh`) started on loopback by [`launcher`], and a [`node_agent`] that
//! registers a Node and runs the pods bound to it as local processes, since no container
//! runtime exists here.
#![forbid(unsafe_code)]

pub mod launcher;
pub mod node_agent;
pub mod spawner;
