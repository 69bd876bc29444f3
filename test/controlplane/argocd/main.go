// Command argocd is Argo CD's multi-call binary (github.com/argoproj/argo-cd/v3/cmd/main.go, v3.6) with only
// the components a dev cluster runs: the application controller, the repo server and the git askpass
// helper the repo server execs. The API server, CLI, Dex and the rest are left out: they are not used
// here and roughly double the cold build. It picks the component from ARGOCD_BINARY_NAME or argv[0].
// Upstream's main first calls grpc.DisableSRVLookups, which panics unless grpclb (linked in by the CLI and
// API server only) has turned SRV lookups on: without them they are already off, so it is not called.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	// Same as upstream: klog through Argo CD's configured logger.
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

func main() {
	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case common.CommandGitAskPass:
		command = gitaskpass.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "argocd: unknown component %q (set ARGOCD_BINARY_NAME to argocd-application-controller, argocd-repo-server or argocd-git-ask-pass)\n", name)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
