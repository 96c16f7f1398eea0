// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3.
//
// The root module go.etcd.io/etcd/v3 carries replace directives, so it cannot
// be built with `go install module@version`; this wrapper is the same as
// etcd's own main.go (server/main.go in the etcd repository).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
