// Command kube-router is kube-router's NetworkPolicy firewall alone: what upstream's
// cmd/kube-router runs with --run-firewall and neither the router nor the service proxy (the
// firewall part of pkg/cmd's KubeRouter.Run, v2.1.0). Building only this leaves out the BGP
// router, the IPVS proxy and the cloud SDKs they link (about half the packages), and the
// firewall watches only what it reads: Nodes, pods, namespaces and NetworkPolicies (upstream
// also starts Service, Endpoints and EndpointSlice informers and waits for them).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/version"
	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s\n", err)
		os.Exit(1)
	}
}

func run() error {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	// As upstream: klog's flags live in the Go flag set (kubernetes/kubernetes#17162).
	if err := flag.CommandLine.Parse([]string{}); err != nil {
		return fmt.Errorf("failed to parse flags: %w", err)
	}
	if err := flag.Set("logtostderr", "true"); err != nil {
		return err
	}
	if err := flag.Set("v", config.VLevel); err != nil {
		return err
	}
	if config.HelpRequested {
		pflag.Usage()
		return nil
	}
	if config.Version {
		version.PrintVersion(false)
		return nil
	}
	if !config.RunFirewall || config.RunRouter || config.RunServiceProxy || config.RunLoadBalancer ||
		config.CleanupConfig {
		return fmt.Errorf("this build runs only the firewall: " +
			"--run-firewall=true --run-router=false --run-service-proxy=false, no --cleanup-config")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("kube-router needs to be run with privileges to execute iptables and ipset")
	}

	version.PrintVersion(true)
	clientConfig, err := clientcmd.BuildConfigFromFlags(config.Master, config.Kubeconfig)
	if err != nil {
		return fmt.Errorf("failed to build configuration from CLI: %w", err)
	}
	client, err := kubernetes.NewForConfig(clientConfig)
	if err != nil {
		return fmt.Errorf("failed to create Kubernetes client: %w", err)
	}

	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	namespaces := factory.Core().V1().Namespaces().Informer()
	policies := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(stop)
	synced := make(chan struct{})
	go func() {
		factory.WaitForCacheSync(stop)
		close(synced)
	}()
	select {
	case <-time.After(config.CacheSyncTimeout):
		return fmt.Errorf("failed to synchronize cache: %s timeout", config.CacheSyncTimeout)
	case <-synced:
	}

	iptables, ipsets, err := netpol.NewIPTablesHandlers(config)
	if err != nil {
		return fmt.Errorf("failed to create iptables handlers: %w", err)
	}
	var ipsetMutex sync.Mutex
	npc, err := netpol.NewNetworkPolicyController(client, config, pods, policies, namespaces,
		&ipsetMutex, iptables, ipsets)
	if err != nil {
		return fmt.Errorf("failed to create network policy controller: %w", err)
	}
	if _, err = pods.AddEventHandler(npc.PodEventHandler); err != nil {
		return fmt.Errorf("failed to add PodEventHandler: %w", err)
	}
	if _, err = namespaces.AddEventHandler(npc.NamespaceEventHandler); err != nil {
		return fmt.Errorf("failed to add NamespaceEventHandler: %w", err)
	}
	if _, err = policies.AddEventHandler(npc.NetworkPolicyEventHandler); err != nil {
		return fmt.Errorf("failed to add NetworkPolicyEventHandler: %w", err)
	}

	// The controller reports a heartbeat after each sync; without upstream's health
	// controller nobody else reads them, and a full channel would stop the controller.
	heartbeats := make(chan *healthcheck.ControllerHeartbeat, 10)
	go func() {
		for range heartbeats {
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go npc.Run(heartbeats, stop, &wg)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	klog.Info("Shutting down the firewall")
	close(stop)
	wg.Wait()
	return nil
}
