// Command etcd is etcd's own server main (go.etcd.io/etcd/server/v3/main.go). It lives in this wrapper
// module because etcd's server module has local replace directives, so `go install` of it fails.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
