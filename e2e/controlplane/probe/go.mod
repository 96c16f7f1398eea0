// The node scenarios' test program; see main.go, ../README.md and ../build.sh.
module gitview/e2e/controlplane/probe

go 1.26.0
